#include "pg/probe.h"

#include <fmt/format.h>

#include <cstdlib>

namespace pgvault::pg {

Result<ServerInfo> ProbeServer(PgSession& session) {
  PGV_ASSIGN_OR_RETURN(
      auto rows,
      session.Query("SELECT current_setting('server_version_num'), "
                    "current_setting('data_directory'), pg_is_in_recovery(), "
                    "current_setting('archive_mode'), current_setting('archive_command'), "
                    "(SELECT system_identifier FROM pg_control_system()), "
                    "pg_size_bytes(current_setting('wal_segment_size')), "
                    "current_setting('data_checksums')"));
  if (rows.size() != 1 || rows[0].size() != 8)
    return Status::Pg("the server returned no row for its settings");
  const Row& row = rows[0];
  auto text = [&](size_t column) { return row[column].value_or(""); };
  ServerInfo info{.version = std::atoi(text(0).c_str()),
                  .data_directory = text(1),
                  .in_recovery = text(2) == "t",
                  .archive_mode = text(3),
                  .archive_command = text(4),
                  .system_identifier = text(5),
                  .system_id = std::strtoull(text(5).c_str(), nullptr, 10),
                  .wal_segment_size = std::strtoull(text(6).c_str(), nullptr, 10),
                  .data_checksums = text(7) == "on"};
  uint64_t size = info.wal_segment_size;
  if (size < (1u << 20) || (size & (size - 1)) != 0)
    return Status::Pg(fmt::format("the server reports an odd wal_segment_size '{}'", text(6)));
  return info;
}

std::string ArchivingHint(std::string_view repo) {
  return fmt::format(
      "set archive_mode = on and archive_command = 'pgvault --repo {} archive-push %p', then "
      "restart PostgreSQL",
      repo);
}

}  // namespace pgvault::pg

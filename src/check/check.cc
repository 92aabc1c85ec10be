#include "check/check.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/time.h"
#include "pg/wal_names.h"
#include "repo/layout.h"
#include "repo/wal_ranges.h"

namespace pgvault::check {

Result<CheckResult> RunCheck(repo::Repository& repo, const CheckOptions& options) {
  PGV_ASSIGN_OR_RETURN(auto session, pg::PgSession::Connect(options.conn));
  CheckResult out{.server = options.conn.Describe(), .repository = repo.Describe()};
  PGV_ASSIGN_OR_RETURN(std::string archive_mode, session->Scalar("SHOW archive_mode"));
  PGV_ASSIGN_OR_RETURN(std::string archive_command, session->Scalar("SHOW archive_command"));
  out.archive_command = archive_command;
  if (archive_mode == "off" || archive_command.empty() || archive_command == "(disabled)")
    return std::move(Status::Pg(fmt::format("'{}' does not archive WAL (archive_mode = {})",
                                            options.conn.Describe(), archive_mode)))
        .WithHint(fmt::format("set archive_mode = on and archive_command = 'pgvault --repo {} "
                              "archive-push %p', then restart PostgreSQL",
                              repo.Describe()));
  PGV_ASSIGN_OR_RETURN(std::string in_recovery, session->Scalar("SELECT pg_is_in_recovery()"));
  if (in_recovery == "t")
    return std::move(Status::Pg(fmt::format("'{}' is in recovery", options.conn.Describe())))
        .WithHint("run check against the primary: a standby cannot switch WAL");
  PGV_ASSIGN_OR_RETURN(std::string sysid,
                       session->Scalar("SELECT system_identifier FROM pg_control_system()"));
  PGV_ASSIGN_OR_RETURN(std::string version, session->Scalar("SHOW server_version_num"));
  PGV_RETURN_IF_ERROR(repo.CheckCluster(std::strtoull(sysid.c_str(), nullptr, 10),
                                        std::atoi(version.c_str()) / 10000));

  // End to end: a fresh segment must appear in the repository.
  double t0 = MonotonicSeconds();
  PGV_ASSIGN_OR_RETURN(std::string segment,
                       session->Scalar("SELECT pg_walfile_name(pg_switch_wal())"));
  out.switched_segment = segment;
  auto key = repo::WalKey(segment);
  if (!key) return Status::Pg(fmt::format("server returned an odd WAL file name '{}'", segment));
  for (;;) {
    PGV_ASSIGN_OR_RETURN(bool archived, repo.HasWal(segment));
    if (archived) break;
    if (MonotonicSeconds() - t0 > options.timeout_seconds) {
      auto failed = session->Query(
          "SELECT coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), "
          "failed_count FROM pg_stat_archiver");
      std::string last_failed;
      if (failed.ok() && !failed->empty() && !(*failed)[0][0].value_or("").empty())
        last_failed = fmt::format("; the archiver last failed on '{}' at {} ({} failures)",
                                  (*failed)[0][0].value_or(""), (*failed)[0][1].value_or(""),
                                  (*failed)[0][2].value_or("0"));
      return std::move(Status::Pg(fmt::format(
                           "WAL segment '{}' did not reach repository '{}' within {} s{}", segment,
                           repo.Describe(), options.timeout_seconds, last_failed)))
          .WithHint(
              "check archive_command and the server log; raise --archive-timeout if the "
              "archive is just slow");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  out.arrival_seconds = MonotonicSeconds() - t0;

  // The archiver's view: how far behind the current WAL position it is.
  PGV_ASSIGN_OR_RETURN(
      auto rows,
      session->Query("SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), "
                     "coalesce(last_archived_time::text, ''), coalesce(last_failed_wal, ''), "
                     "coalesce(last_failed_time::text, ''), "
                     "coalesce(extract(epoch FROM now() - last_archived_time)::float8, 0), "
                     "pg_walfile_name(pg_current_wal_lsn()), "
                     "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), "
                     "pg_size_bytes(current_setting('wal_segment_size')) FROM pg_stat_archiver"));
  if (rows.empty()) return Status::Pg("pg_stat_archiver returned no row");
  const pg::Row& r = rows[0];
  uint64_t segment_size = std::strtoull(r[9].value_or("").c_str(), nullptr, 10);
  if (segment_size < (1u << 20) || (segment_size & (segment_size - 1)) != 0)
    return Status::Pg(
        fmt::format("the server reports an odd wal_segment_size '{}'", r[9].value_or("")));
  std::string last_archived = r[2].value_or("");
  std::string current = r[7].value_or("");
  uint32_t tli_a = 0, tli_c = 0;
  uint64_t seg_a = 0, seg_c = 0;
  int64_t lag_segments = -1;
  if (pg::ParseSegmentName(last_archived, tli_a, seg_a, segment_size) &&
      pg::ParseSegmentName(current, tli_c, seg_c, segment_size) && tli_a == tli_c)
    lag_segments = static_cast<int64_t>(seg_c) - static_cast<int64_t>(seg_a) - 1;
  out.archiver = {.archived_count = std::atoll(r[0].value_or("0").c_str()),
                  .failed_count = std::atoll(r[1].value_or("0").c_str()),
                  .last_archived_wal = last_archived,
                  .last_archived_time = r[3].value_or(""),
                  .last_failed_wal = r[4].value_or(""),
                  .last_failed_time = r[5].value_or(""),
                  .seconds_since_last_archived = std::atof(r[6].value_or("0").c_str()),
                  .current_wal = current,
                  .ready_segments = std::atoll(r[8].value_or("0").c_str()),
                  .lag_segments = lag_segments};

  // Continuity from the oldest backup (or the first archived segment) to the newest segment.
  PGV_ASSIGN_OR_RETURN(auto ranges, repo::DescribeArchive(repo, segment_size));
  for (const auto& range : ranges) {
    out.missing_segments += range.missing;
    for (const auto& g : range.gaps) out.wal_gaps.push_back(g);
  }
  return out;
}

}  // namespace pgvault::check

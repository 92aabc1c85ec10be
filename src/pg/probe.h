// What pgvault needs to know about a running server before it backs it up or checks its
// archiving, asked in one query by ProbeServer. The commands decide what is acceptable (backup
// needs PostgreSQL 15 and its own data directory, check only archiving); the hint for a server
// that does not archive WAL is written here, once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pg/session.h"

namespace pgvault::pg {

struct ServerInfo {
  int version = 0;                // server_version_num, e.g. 150004
  std::string data_directory;     // as the server prints it (not resolved)
  bool in_recovery = false;       // a standby, or a server still recovering
  std::string archive_mode;       // "on", "always" or "off"
  std::string archive_command;    // "" or "(disabled)" when none is set
  std::string system_identifier;  // as pg_control_system() prints it
  uint64_t system_id = 0;         // the same, parsed
  uint64_t wal_segment_size = 0;  // bytes: a power of two, at least 1 MiB
  bool data_checksums = false;    // the cluster was initialised with page checksums

  int major() const { return version / 10000; }  // 15 for 150004
};

// kPg when the query fails or the server reports an odd wal_segment_size.
Result<ServerInfo> ProbeServer(PgSession& session);

// The fix for a server that does not archive WAL into repository `repo` (as Describe() says).
std::string ArchivingHint(std::string_view repo);

}  // namespace pgvault::pg

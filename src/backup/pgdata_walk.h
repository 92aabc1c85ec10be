// Lists what a base backup must contain, following PostgreSQL's rules for a low-level base
// backup ("Backing Up the Data Directory" in the PostgreSQL docs): pg_wal and the runtime
// directories are kept empty, postmaster/backup-label files, pg_internal.init, temporary files
// and the main forks of unlogged relations are skipped. Tablespaces are followed through
// pg_tblspc/<oid> and their files listed under that path.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "repo/manifest.h"

namespace pgvault::backup {

struct WalkEntry {
  repo::EntryType type;
  std::string path;         // relative to PGDATA, '/'-separated
  std::string source_path;  // absolute path to read from
  uint32_t mode = 0;
  uint64_t size = 0;  // at walk time; the file may grow or shrink before it is read
  int64_t mtime = 0;
  std::string link_target;  // symlinks only
};

struct Tablespace {
  std::string oid;
  std::string location;
};

struct WalkResult {
  std::vector<WalkEntry> entries;  // sorted by path: every directory precedes its contents
  std::vector<Tablespace> tablespaces;
  uint64_t total_bytes = 0;
};

Result<WalkResult> WalkPgdata(const std::string& pgdata);

}  // namespace pgvault::backup

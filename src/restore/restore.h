// The restore command: rebuilds a data directory from a backup, in parallel, verifying every
// block against its keyed id, then writes the recovery settings so PostgreSQL replays the
// archived WAL when it starts. global/pg_control is written last: an interrupted restore leaves
// a directory PostgreSQL refuses to start, never one that starts with missing files.
#pragma once

#include <map>
#include <string>

#include "common/progress.h"
#include "repo/repository.h"

namespace pgvault::restore {

struct RestoreOptions {
  std::string pgdata;
  std::string backup_id;                            // empty = newest
  int jobs = 2;
  std::map<std::string, std::string> tablespace_map;  // oid -> new location
  std::string restore_command;                       // written into postgresql.auto.conf
};

struct RestoreResult {
  std::string backup_id;
  uint64_t files = 0;
  uint64_t bytes = 0;
  double seconds = 0;
};

Result<RestoreResult> RunRestore(repo::Repository& repo, const RestoreOptions& options,
                                 Progress& progress);

std::string SummaryLine(const RestoreResult& result);

}  // namespace pgvault::restore

// The drill command: proves that a backup restores into a working database and measures how long
// that takes (the RTO). It restores the backup (restore/restore.h, as a library) into a scratch
// directory, starts PostgreSQL there on a free loopback port with safe settings (archive_mode
// off, no TCP clients admitted, the unix socket in the scratch directory), follows recovery to
// its end, runs the automatic checks (drill/checks.h) and the user's (drill/checks_file.h),
// stops the server by its PID and removes the scratch directory (unless kept). The outcome is
// written as a drill record in the catalog (repo/catalog_records.h), also when the drill fails.
#pragma once

#include <string>
#include <vector>

#include "common/progress.h"
#include "repo/catalog_records.h"
#include "repo/repository.h"
#include "restore/restore.h"

namespace pgvault::drill {

struct DrillOptions {
  std::string backup_id;  // empty = chosen by the target (newest for the end of the WAL)
  restore::RecoveryTarget target;
  std::string checks_file;  // "" = automatic checks only
  std::string scratch;      // "" = a new directory under $TMPDIR (or /tmp)
  bool keep = false;
  int jobs = 2;
  std::string user;             // the restored cluster's superuser to connect as
  std::string restore_command;  // how the restored server fetches WAL (pgvault archive-get)
  std::vector<std::string> server_unset_env;  // see restore::StartOptions::unset_env
};

struct DrillResult {
  std::string backup_id;  // "" when no backup could be chosen
  std::string scratch;
  repo::DrillRecord record;
  bool recorded = false;  // the record was written to the catalog
};

// Fails only when the drill cannot be run at all (bad check file, no such backup, scratch
// directory not empty). A failed check, restore or recovery is a failed drill in the result.
Result<DrillResult> RunDrill(repo::Repository& repo, const DrillOptions& options,
                             Progress& progress);

// The checks with their values, the time split and the verdict, for a person.
std::string FormatText(const DrillResult& result);

}  // namespace pgvault::drill

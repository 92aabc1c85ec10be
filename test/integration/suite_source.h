// The set-up most integration suites share in SetUpTestSuite: a source cluster archiving into the
// suite's repository, and a backup the suite cannot do without.
#pragma once

#include <memory>

#include "pg_cluster.h"

namespace pgvault::test {

// A cluster archiving into `repo`, with pgbench tables at scale 1; the suite owns it (deletes it
// in TearDownTestSuite). Stopped again if pgbench fails.
inline PgCluster* NewArchivingSource(TestRepo& repo) {
  std::unique_ptr<PgCluster> source =
      PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "1", "-q"});
  return source.release();
}

// Backs up `source` into `repo`; throws HarnessError (failing the suite) when the backup fails.
inline ProcessResult SuiteBackup(TestRepo& repo, PgCluster& source) {
  ProcessResult backup = repo.Backup(source);
  if (backup.exit_code != 0) throw HarnessError("the suite's backup failed: " + backup.err);
  return backup;
}

}  // namespace pgvault::test

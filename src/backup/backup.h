// The backup command: a logically full, physically incremental base backup of a running
// PostgreSQL cluster, taken between pg_backup_start and pg_backup_stop on one held session.
#pragma once

#include <string>

#include "common/direct_io.h"
#include "common/progress.h"
#include "pg/session.h"
#include "repo/manifest.h"
#include "repo/repository.h"
#include "retention/apply.h"

namespace pgvault::backup {

struct BackupOptions {
  std::string pgdata;
  pg::ConnOptions conn;
  int jobs = 2;
  int archive_timeout_seconds = 60;  // wait for the stop segment to reach the repository
  // >0: every object the backup needs is locked (S3 Object Lock, COMPLIANCE) until this time.
  int64_t retain_until_unix = 0;
  // Check data page checksums when the cluster has them (--checksum-page).
  bool checksum_page = true;
  // Read every file, also those the unchanged-file rule would take from the parent (--full-scan).
  bool full_scan = false;
  // Read cold ranges of PGDATA around the page cache (--direct-io, common/direct_io.h).
  DirectIo direct_io = DirectIo::kAuto;
  // The retention tiers the backup joins (recorded in its header) and --now.
  retention::TierOptions tiers;
};

struct BackupResult {
  std::string backup_id;
  repo::ManifestHeader header;  // as written, including its stats
  // The storage class and lock of its new objects, from its tiers (header.retain_until_unix
  // holds the lock it used: the later of the tiers' and --retain-days').
  retention::Placement placement;
  uint64_t bytes_read_direct = 0;  // of the bytes read, those read around the page cache
};

Result<BackupResult> RunBackup(repo::Repository& repo, const BackupOptions& options,
                               Progress& progress);

// One line for humans: "backup <id> complete: ...".
std::string SummaryLine(const BackupResult& result);
// "backup <id> stored its new objects as storage class GLACIER_IR (tier monthly), locked
// (COMPLIANCE) until 2033-01-01T02:00:00.000000Z (tier monthly)"; default_class: the
// repository's (--s3-storage-class), "" when none.
std::string PlacementLine(const BackupResult& result, const std::string& default_class);
// CPU seconds per stage, then the process's CPU seconds per GB of the cluster's data: two lines.
std::string StatsLine(const BackupResult& result);

}  // namespace pgvault::backup

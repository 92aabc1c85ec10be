// The check command: proves end to end that a running cluster's archive_command reaches the
// repository (forces a WAL switch and waits for that segment), reports the archiver's lag and any
// gap in the archived WAL, and runs the health checks (health.h): connectivity, system
// identifier, archive, replication, free disk space, a repository write probe and clock skew.
// The daemon runs the same before each scheduled backup.
#pragma once

#include <string>
#include <vector>

#include "check/health.h"
#include "pg/session.h"
#include "repo/repository.h"

namespace pgvault::check {

struct CheckOptions {
  pg::ConnOptions conn;
  int timeout_seconds = 60;  // how long the switched segment may take to arrive
  Thresholds thresholds;
  std::string repo_location;  // --repo: its free space is checked when the storage is local
  std::string spool_path;     // --spool-path; "" = not checked
  std::string scratch_path;   // --scratch (drill's restore area); "" = not checked
};

// pg_stat_archiver's view, and how far the archiver is behind the current WAL position.
struct ArchiverStatus {
  int64_t archived_count = 0;
  int64_t failed_count = 0;
  std::string last_archived_wal;   // "" when nothing was archived yet
  std::string last_archived_time;  // as PostgreSQL prints it
  std::string last_failed_wal;     // "" when nothing failed
  std::string last_failed_time;
  double seconds_since_last_archived = 0;
  std::string current_wal;     // the segment being written
  int64_t ready_segments = 0;  // waiting for archive_command (.ready files)
  int64_t lag_segments = -1;   // completed segments not yet archived; -1 when unknown
  bool failing = false;        // the last failure is newer than the last success
  // Age of the oldest WAL waiting for archive_command: the time since the last segment was
  // archived while segments are ready, else 0.
  double lag_seconds = 0;
};

// What check measured. The CLI writes it as text or JSON (cli/report_output.h).
struct CheckResult {
  std::string server;            // the connection, described
  std::string repository;        // the repository, described
  std::string archive_command;   // the server's setting
  std::string switched_segment;  // the segment check forced and waited for ("" on a standby)
  double arrival_seconds = 0;    // how long it took to reach the repository
  ArchiverStatus archiver;       // before the WAL switch
  bool archiver_read = false;    // archiver holds a measurement (the server archives)
  bool wal_checked = false;      // the archived WAL's continuity was examined (the cluster matched)
  std::vector<std::string> wal_gaps;  // "A" or "A .. B" per run of missing segments
  uint64_t missing_segments = 0;
  std::vector<HealthCheck> checks;  // in the order run; see health.h
};

// Runs every check; a failing one is a critical HealthCheck in the result, not an error (when
// the server cannot be reached, the result holds connectivity and the checks that need no
// server). Errors: a repository that cannot be read for the gap check. A gap in the archived WAL
// is in the result (missing_segments); the CLI turns it into kCorruption.
Result<CheckResult> RunCheck(repo::Repository& repo, const CheckOptions& options);

}  // namespace pgvault::check

// The check command: proves end to end that a running cluster's archive_command reaches the
// repository (forces a WAL switch and waits for that segment), and reports the archiver's lag
// and any gap in the archived WAL.
#pragma once

#include <string>
#include <vector>

#include "pg/session.h"
#include "repo/repository.h"

namespace pgvault::check {

struct CheckOptions {
  pg::ConnOptions conn;
  int timeout_seconds = 60;  // how long the switched segment may take to arrive
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
};

// What check measured. The CLI writes it as text or JSON (cli/report_output.h).
struct CheckResult {
  std::string server;            // the connection, described
  std::string repository;        // the repository, described
  std::string archive_command;   // the server's setting
  std::string switched_segment;  // the segment check forced and waited for
  double arrival_seconds = 0;    // how long it took to reach the repository
  ArchiverStatus archiver;
  std::vector<std::string> wal_gaps;  // "A" or "A .. B" per run of missing segments
  uint64_t missing_segments = 0;
};

// kPg when the server is not archiving or the segment does not arrive in time. A gap in the
// archived WAL is in the result (missing_segments); the CLI turns it into kCorruption.
Result<CheckResult> RunCheck(repo::Repository& repo, const CheckOptions& options);

}  // namespace pgvault::check

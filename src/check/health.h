// Health checks: each a name, a verdict (ok, warning, critical), what was measured and, when not
// ok, a one-line hint. The verdict rules live here, as pure functions of the measurements, so the
// thresholds are unit-tested without a server (health_test.cc); check.cc and health_probe.cc
// measure. docs/user-guide.md, "check", lists every check and its thresholds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgvault::check {

enum class Verdict { kOk, kWarning, kCritical };
// "ok", "warning", "critical"
const char* VerdictName(Verdict verdict);

struct HealthCheck {
  std::string name;  // "connectivity", "system_identifier", "archive", "replication",
                     // "disk_pgdata", "disk_spool", "disk_scratch", "disk_repository",
                     // "repository_writable", "clock_skew"
  Verdict verdict = Verdict::kOk;
  std::string value;  // what was measured, one line ("skipped: ..." when it could not be)
  std::string hint;   // the fix, one line; "" when ok
  // For a critical check: the kind of failure, the exit code of `pgvault check` (kCheckFailed
  // for a threshold, the cause's code otherwise, e.g. kPg when archiving is off).
  Code code = Code::kOk;
};

// --min-free-space: "10%" of the file system, or an amount "512MiB", "20GiB" (a bare number is
// MiB). kInvalidArgument with a hint for anything else.
struct FreeSpace {
  bool percent = true;
  double value = 5;  // percent, or bytes when !percent
};
Result<FreeSpace> ParseFreeSpace(std::string_view text);

struct Thresholds {
  FreeSpace min_free;                        // critical below, warning below twice this
  double max_archive_lag_seconds = 300;      // warning above
  double max_replication_lag_seconds = 300;  // warning above
  double clock_skew_warning_seconds = 60;
  double clock_skew_critical_seconds = 300;  // S3 refuses requests signed 900 s off
};

// disk_<what>: available bytes (to unprivileged users) on the file system holding path.
HealthCheck DiskCheck(const std::string& name, const std::string& path, uint64_t available_bytes,
                      uint64_t total_bytes, const FreeSpace& min_free);

// What archive's verdict is made of: the archiver before the WAL switch, and the switch's fate.
struct ArchiveFacts {
  bool archiving = true;          // archive_mode on/always and an archive_command set
  bool primary_archives = false;  // a standby without archive_mode = always: the primary's job
  bool failing = false;           // the archiver's last failure is newer than its last success
  std::string last_failed_wal;    // for the message
  double lag_seconds = 0;         // age of the oldest WAL waiting for archive_command (0: none)
  int64_t lag_segments = 0;       // completed segments not archived yet
  bool standby = false;           // no WAL switch on a standby
  std::string switched_segment;   // "" when no switch was made
  double arrival_seconds = 0;
  std::string switch_error;  // why the switched segment did not arrive; "" when it did
};
HealthCheck ArchiveCheck(const ArchiveFacts& facts, double max_lag_seconds,
                         const std::string& archiving_hint);

// Replication: as a standby (receiver and replay position), or as a primary (its standbys).
struct ReplicationFacts {
  bool standby = false;
  bool receiving = false;     // standby: a WAL receiver is streaming
  double lag_seconds = 0;     // standby: replay behind the received WAL; primary: max replay_lag
  int64_t lag_bytes = 0;      // standby: received - replayed; primary: max current - replay_lsn
  int64_t standby_count = 0;  // primary: rows of pg_stat_replication
};
HealthCheck ReplicationCheck(const ReplicationFacts& facts, double max_lag_seconds);

// skew_seconds: server clock minus local clock; nullopt when the repository has no server clock.
HealthCheck ClockSkewCheck(std::optional<double> skew_seconds, const Thresholds& thresholds);

// The worst verdict; kOk for none.
Verdict Worst(const std::vector<HealthCheck>& checks);
// The first critical check, or nullptr.
const HealthCheck* FirstCritical(const std::vector<HealthCheck>& checks);

// OK unless a check is critical: then the first critical one, as one line naming the check and
// what it measured, with its hint and code ("health check 'archive' is critical: ...").
Status CriticalStatus(const std::vector<HealthCheck>& checks);

// "12.0 GiB", "512.0 MiB": for values and messages.
std::string FormatBytes(uint64_t bytes);

}  // namespace pgvault::check

// Prometheus text exposition (format 0.0.4) of what the daemon knows: per cluster the typed
// repository facts (info::RepoInfo, the same data as `pgvault info --json`) and the daemon's own
// job counters. Names follow Prometheus conventions: the pgvault_ prefix, base units in the
// name (_seconds, _bytes), counters ending in _total; labels cluster, tier, job, result, kind.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "check/health.h"
#include "info/info.h"

namespace pgvault::daemon {

// Upper bounds of the job duration histogram's buckets, in seconds (+Inf is implied).
inline constexpr double kDurationBuckets[] = {1, 5, 15, 60, 300, 900, 3600, 10800, 43200};
inline constexpr size_t kBucketCount = std::size(kDurationBuckets);

struct JobCounters {
  uint64_t successes = 0, failures = 0;
  int64_t last_success_unix = 0;  // 0 = never
  int64_t last_failure_unix = 0;
  double last_duration_seconds = 0;
  uint64_t bucket_counts[kBucketCount + 1] = {};  // per bucket (not cumulative), last is +Inf
  double duration_sum = 0;
  int64_t next_run_unix = 0;  // the next scheduled run (0 = not scheduled)
  std::string last_error;     // the last failure's message, "" after a success
  void Record(bool ok, double seconds, int64_t now_unix);
};

// wal-stream as the daemon runs it (daemon/stream_runner.h).
struct StreamStatus {
  int64_t last_progress_unix = 0;  // the last status update to the server (0: none yet)
  uint32_t timeline = 0;
  uint64_t received = 0, flushed = 0, stored = 0, server_end = 0;  // LSNs
  double lag_seconds = 0;  // how long the server has been ahead of what pgvault received
  uint64_t failures = 0;   // runs that ended in an error (each is restarted)
  std::string last_error;  // "" while it streams
};

struct ClusterState {
  std::string name;
  std::optional<info::RepoInfo> info;         // nullopt until read (or when reading failed)
  std::optional<double> archive_lag_seconds;  // from the health check, when it ran
  std::optional<uint64_t> archive_lag_segments;
  std::vector<check::HealthCheck> health;        // the last health checks' results
  int64_t health_checked_unix = 0;               // when they ran (0 = never)
  std::map<std::string, JobCounters> jobs;       // by job kind: backup, verify, expire, drill
  std::map<std::string, uint64_t> errors_total;  // by error kind (status code name)
  std::optional<StreamStatus> stream;            // only when the cluster has wal-stream = true
};

// The newest intact backup per tier ("full": pgvault's only backup type until the retention
// policy assigns tiers), and the repository's stored bytes (new backup bytes + WAL objects).
std::string TierOf(const repo::ListedBackup& backup);
uint64_t RepositoryBytes(const info::RepoInfo& info);
// Archived WAL segments of every timeline, and those missing after the oldest backup.
uint64_t ArchivedSegments(const info::RepoInfo& info);
uint64_t MissingSegments(const info::RepoInfo& info);

std::string RenderMetrics(const std::vector<ClusterState>& clusters);

// Label value escaping of the text format: backslash, double quote and newline.
std::string EscapeLabel(const std::string& value);

}  // namespace pgvault::daemon

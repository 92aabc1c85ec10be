#include "daemon/metrics.h"

#include <fmt/format.h>

#include <functional>

#include "common/time.h"

namespace pgvault::daemon {
namespace {

using Samples = std::vector<std::pair<std::string, double>>;  // {labels, value}
using SampleFn = std::function<void(const ClusterState&, Samples&)>;

std::string Number(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)))
    return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string L(const std::string& cluster) {
  return fmt::format("cluster=\"{}\"", EscapeLabel(cluster));
}
std::string L(const std::string& cluster, const char* key, const std::string& value) {
  return fmt::format("{},{}=\"{}\"", L(cluster), key, EscapeLabel(value));
}

// One metric family: HELP and TYPE once, then all its samples, contiguous.
void Family(std::string& out, const std::vector<ClusterState>& clusters, const char* name,
            const char* type, const char* help, const SampleFn& fn) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const auto& c : clusters) {
    Samples samples;
    fn(c, samples);
    for (const auto& [labels, value] : samples)
      out += fmt::format("{}{{{}}} {}\n", name, labels, Number(value));
  }
}

// The newest intact backup per tier of one cluster.
std::map<std::string, const repo::ManifestHeader*> NewestPerTier(const info::RepoInfo& info) {
  std::map<std::string, const repo::ManifestHeader*> newest;
  for (const auto& b : info.backups)
    if (b.intact()) newest[TierOf(b)] = &*b.header;  // oldest first: the last one wins
  return newest;
}

void BackupFamilies(std::string& out, const std::vector<ClusterState>& clusters) {
  struct Gauge {
    const char* name;
    const char* help;
    std::function<double(const repo::ManifestHeader&)> value;
  };
  const Gauge gauges[] = {
      {"pgvault_backup_last_success_timestamp_seconds",
       "Stop time of the newest intact backup, seconds since the epoch.",
       [](const auto& h) { return static_cast<double>(h.stop_time_unix_micros) / 1e6; }},
      {"pgvault_backup_last_duration_seconds", "Wall-clock duration of the newest intact backup.",
       [](const auto& h) { return h.stats.duration_seconds; }},
      {"pgvault_backup_last_read_bytes", "Bytes the newest intact backup read from PGDATA.",
       [](const auto& h) { return static_cast<double>(h.stats.bytes_read); }},
      {"pgvault_backup_last_stored_bytes",
       "Bytes the newest intact backup added to the repository.",
       [](const auto& h) { return static_cast<double>(h.stats.bytes_new); }},
  };
  for (const auto& g : gauges)
    Family(out, clusters, g.name, "gauge", g.help, [&](const ClusterState& c, Samples& s) {
      if (!c.info) return;
      for (const auto& [tier, h] : NewestPerTier(*c.info))
        s.emplace_back(L(c.name, "tier", tier), g.value(*h));
    });
  Family(out, clusters, "pgvault_backups", "gauge",
         "Backups in the repository: intact ones per tier, and damaged ones.",
         [](const ClusterState& c, Samples& s) {
           if (!c.info) return;
           std::map<std::string, uint64_t> count;
           for (const auto& b : c.info->backups) count[b.intact() ? TierOf(b) : "damaged"]++;
           for (const auto& [tier, n] : count)
             s.emplace_back(L(c.name, "tier", tier), static_cast<double>(n));
         });
}

void RepoFamilies(std::string& out, const std::vector<ClusterState>& clusters) {
  Family(out, clusters, "pgvault_repository_up", "gauge",
         "1 when the daemon's last read of the repository succeeded.",
         [](const ClusterState& c, Samples& s) { s.emplace_back(L(c.name), c.info ? 1 : 0); });
  Family(out, clusters, "pgvault_repository_bytes", "gauge",
         "Stored bytes: the backups' new data and the WAL objects.",
         [](const ClusterState& c, Samples& s) {
           if (c.info) s.emplace_back(L(c.name), static_cast<double>(RepositoryBytes(*c.info)));
         });
  Family(out, clusters, "pgvault_wal_segments", "gauge", "Archived WAL segments.",
         [](const ClusterState& c, Samples& s) {
           if (c.info) s.emplace_back(L(c.name), static_cast<double>(ArchivedSegments(*c.info)));
         });
  Family(out, clusters, "pgvault_wal_gap_segments", "gauge",
         "WAL segments missing after the oldest backup (point-in-time recovery cannot cross).",
         [](const ClusterState& c, Samples& s) {
           if (c.info) s.emplace_back(L(c.name), static_cast<double>(MissingSegments(*c.info)));
         });
  Family(out, clusters, "pgvault_archive_lag_seconds", "gauge",
         "Age of the newest WAL the server reports archived (pg_stat_archiver).",
         [](const ClusterState& c, Samples& s) {
           if (c.archive_lag_seconds) s.emplace_back(L(c.name), *c.archive_lag_seconds);
         });
  Family(out, clusters, "pgvault_archive_lag_segments", "gauge",
         "Completed WAL segments not archived yet (the health check's measurement).",
         [](const ClusterState& c, Samples& s) {
           if (c.archive_lag_segments)
             s.emplace_back(L(c.name), static_cast<double>(*c.archive_lag_segments));
         });
}

void HealthFamilies(std::string& out, const std::vector<ClusterState>& clusters) {
  Family(out, clusters, "pgvault_health_check_ok", "gauge",
         "1 when the health check's last verdict was ok, 0 for warning or critical.",
         [](const ClusterState& c, Samples& s) {
           for (const auto& h : c.health)
             s.emplace_back(L(c.name, "check", h.name), h.verdict == check::Verdict::kOk ? 1 : 0);
         });
  Family(out, clusters, "pgvault_health_check_critical", "gauge",
         "1 when the health check's last verdict was critical (a scheduled backup was skipped).",
         [](const ClusterState& c, Samples& s) {
           for (const auto& h : c.health)
             s.emplace_back(L(c.name, "check", h.name),
                            h.verdict == check::Verdict::kCritical ? 1 : 0);
         });
  Family(out, clusters, "pgvault_health_check_timestamp_seconds", "gauge",
         "When the health checks last ran, seconds since the epoch.",
         [](const ClusterState& c, Samples& s) {
           if (c.health_checked_unix > 0)
             s.emplace_back(L(c.name), static_cast<double>(c.health_checked_unix));
         });
}

void JobFamilies(std::string& out, const std::vector<ClusterState>& clusters) {
  Family(out, clusters, "pgvault_job_runs_total", "counter", "Scheduled job runs by result.",
         [](const ClusterState& c, Samples& s) {
           for (const auto& [job, j] : c.jobs) {
             std::string l = L(c.name, "job", job);
             s.emplace_back(l + ",result=\"success\"", static_cast<double>(j.successes));
             s.emplace_back(l + ",result=\"failure\"", static_cast<double>(j.failures));
           }
         });
  Family(out, clusters, "pgvault_job_last_success_timestamp_seconds", "gauge",
         "When a scheduled job last succeeded, seconds since the epoch.",
         [](const ClusterState& c, Samples& s) {
           for (const auto& [job, j] : c.jobs)
             if (j.last_success_unix > 0)
               s.emplace_back(L(c.name, "job", job), static_cast<double>(j.last_success_unix));
         });
  out += "# HELP pgvault_job_duration_seconds Duration of scheduled job runs.\n";
  out += "# TYPE pgvault_job_duration_seconds histogram\n";
  for (const auto& c : clusters)
    for (const auto& [job, j] : c.jobs) {
      std::string l = L(c.name, "job", job);
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= kBucketCount; i++) {
        cumulative += j.bucket_counts[i];
        std::string le = i < kBucketCount ? Number(kDurationBuckets[i]) : "+Inf";
        out += fmt::format("pgvault_job_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", l, le,
                           cumulative);
      }
      out += fmt::format("pgvault_job_duration_seconds_sum{{{}}} {}\n", l, Number(j.duration_sum));
      out += fmt::format("pgvault_job_duration_seconds_count{{{}}} {}\n", l, cumulative);
    }
  Family(out, clusters, "pgvault_errors_total", "counter", "Job errors by kind.",
         [](const ClusterState& c, Samples& s) {
           for (const auto& [kind, n] : c.errors_total)
             s.emplace_back(L(c.name, "kind", kind), static_cast<double>(n));
         });
}

void StreamFamilies(std::string& out, const std::vector<ClusterState>& clusters) {
  int64_t now = NowUnixMicros() / 1000000;
  Family(out, clusters, "pgvault_wal_stream_up", "gauge",
         "1 while wal-stream reports to the server (a status update in the last 30 s).",
         [now](const ClusterState& c, Samples& s) {
           if (!c.stream) return;
           bool up = c.stream->last_error.empty() && c.stream->last_progress_unix > 0 &&
                     now - c.stream->last_progress_unix <= 30;
           s.emplace_back(L(c.name), up ? 1 : 0);
         });
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const StreamStatus&);
  };
  static const Metric metrics[] = {
      {"pgvault_wal_stream_lag_bytes", "gauge", "WAL the server has that pgvault has not received.",
       [](const StreamStatus& s) {
         return static_cast<double>(s.server_end > s.flushed ? s.server_end - s.flushed : 0);
       }},
      {"pgvault_wal_stream_lag_seconds", "gauge",
       "How long the server has been ahead of what pgvault received (0 when caught up).",
       [](const StreamStatus& s) { return s.lag_seconds; }},
      {"pgvault_wal_stream_unstored_bytes", "gauge",
       "WAL on pgvault's disk not yet in the repository (at most --partial-interval of it).",
       [](const StreamStatus& s) {
         return static_cast<double>(s.flushed > s.stored ? s.flushed - s.stored : 0);
       }},
      {"pgvault_wal_stream_flushed_lsn_bytes", "gauge",
       "The WAL position pgvault has on disk and reported flushed, as a byte offset.",
       [](const StreamStatus& s) { return static_cast<double>(s.flushed); }},
      {"pgvault_wal_stream_failures_total", "counter", "wal-stream runs that ended in an error.",
       [](const StreamStatus& s) { return static_cast<double>(s.failures); }},
  };
  for (const auto& m : metrics)
    Family(out, clusters, m.name, m.type, m.help, [&](const ClusterState& c, Samples& s) {
      if (c.stream) s.emplace_back(L(c.name), m.value(*c.stream));
    });
}

}  // namespace

void JobCounters::Record(bool ok, double seconds, int64_t now_unix) {
  (ok ? successes : failures)++;
  (ok ? last_success_unix : last_failure_unix) = now_unix;
  last_duration_seconds = seconds;
  size_t i = 0;
  while (i < kBucketCount && seconds > kDurationBuckets[i]) i++;
  bucket_counts[i]++;
  duration_sum += seconds;
}

std::string TierOf(const repo::ListedBackup& backup) {
  return backup.header ? backup.header->type : "damaged";
}

uint64_t RepositoryBytes(const info::RepoInfo& info) {
  uint64_t bytes = 0;
  for (const auto& b : info.backups)
    if (b.intact()) bytes += b.header->stats.bytes_new + b.header->manifest_bytes;
  for (const auto& w : info.wal) bytes += w.bytes;
  return bytes;
}

uint64_t ArchivedSegments(const info::RepoInfo& info) {
  uint64_t n = 0;
  for (const auto& w : info.wal) n += w.segments;
  return n;
}

uint64_t MissingSegments(const info::RepoInfo& info) {
  uint64_t n = 0;
  for (const auto& t : info.timelines) n += t.missing;
  return n;
}

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char ch : value) {
    if (ch == '\\' || ch == '"') out += '\\';
    out += ch == '\n' ? std::string("\\n") : std::string(1, ch);
  }
  return out;
}

std::string RenderMetrics(const std::vector<ClusterState>& clusters) {
  std::string out;
  BackupFamilies(out, clusters);
  RepoFamilies(out, clusters);
  HealthFamilies(out, clusters);
  JobFamilies(out, clusters);
  StreamFamilies(out, clusters);
  return out;
}

}  // namespace pgvault::daemon

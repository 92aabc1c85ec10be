// `pgvault daemon --config FILE`: runs each cluster's scheduled jobs (backup, verify, expire,
// drill) through the same functions as the CLI commands, serves /metrics and a status page, and
// raises alerts. docs/user-guide.md, "Running unattended".
//
// Each cluster has one worker thread that runs its jobs one at a time, so one daemon never
// runs two backups of a cluster at once; the repository's backup lock keeps out everyone else
// (a backup that finds it taken fails and is retried). A failed job is retried after
// retry-delay seconds, doubled per retry, at most `retry` times and never past its next
// scheduled run. At start, a backup whose last scheduled time passed while the daemon was
// down (the newest backup is older than the latest fire time) runs once at once.
// Before each scheduled backup the health checks run (Hooks::health_check): a critical one skips
// the backup and alerts "health_check_failed", "resolved" once they pass again.
// SIGTERM or SIGINT: no new job starts, a running job is finished (a backup completes), then
// the daemon exits 0.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "check/check.h"
#include "common/status.h"
#include "config/options.h"
#include "daemon/config.h"
#include "daemon/stream_runner.h"
#include "info/info.h"

namespace pgvault::daemon {

using JobFn = std::function<Status(config::Options&)>;

// What the daemon calls: one function per job kind (a kind without one is not scheduled: e.g.
// drill until its command exists), and how to read a repository's info for metrics.
struct Hooks {
  std::map<std::string, JobFn> jobs;
  std::function<Result<info::RepoInfo>(const config::Options&)> collect_info;
  // Runs wal-stream for a cluster whose options say wal-stream = true (until stop returns true).
  StreamFn stream;
  // The health checks (`pgvault check`) run before each scheduled backup; a critical one skips
  // the backup (retried like a failed one) and raises "health_check_failed". None: no checks.
  std::function<Result<check::CheckResult>(const config::Options&)> health_check;
  // Returns when the daemon should stop; default: waits for SIGTERM or SIGINT.
  std::function<void()> wait_for_stop;
};

Status RunDaemon(const DaemonConfig& config, const Hooks& hooks);

// "127.0.0.1:9187" -> host and port; kConfig for anything else.
Status ParseListen(const std::string& listen, std::string& host, int& port);

}  // namespace pgvault::daemon

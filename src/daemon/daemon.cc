#include "daemon/daemon.h"

#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "common/time.h"
#include "daemon/alerts.h"
#include "daemon/event_log.h"
#include "daemon/http_auth.h"
#include "daemon/metrics.h"
#include "daemon/status_page.h"

namespace pgvault::daemon {
namespace {

constexpr int64_t kRefreshSeconds = 60;  // info for metrics is re-read at least this often

int64_t Now() { return NowUnixMicros() / 1000000; }

struct Job {
  std::string kind;
  schedule::CronExpr cron;
  JobFn run;
  int64_t next = 0;                 // the next scheduled run
  std::optional<int64_t> retry_at;  // a pending retry of a failed run
  int attempts = 0;                 // retries made since the last scheduled run
  bool failing = false;             // an alert is open until a run succeeds
};

class Daemon {
 public:
  Daemon(const DaemonConfig& config, const Hooks& hooks)
      : config_(config),
        hooks_(hooks),
        alerter_({.webhook = config.base.alert_webhook,
                  .command = config.base.alert_command,
                  .interval_seconds = config.base.alert_interval}) {
    for (const auto& c : config.clusters) states_.push_back(ClusterState{.name = c.name});
    health_failing_.assign(config.clusters.size(), 0);
  }
  Status Run();

 private:
  void ClusterLoop(size_t index);
  std::vector<Job> MakeJobs(size_t index);
  void CatchUp(size_t index, std::vector<Job>& jobs);
  void RunJob(size_t index, Job& job, bool scheduled);
  Status HealthGate(size_t index);
  void ScheduleRetry(Job& job, bool scheduled, int64_t now) const;
  void Refresh(size_t index);
  Status StartServer();
  std::vector<ClusterState> Snapshot() {
    std::lock_guard lock(mu_);
    return states_;
  }

  const DaemonConfig& config_;
  const Hooks& hooks_;
  Alerter alerter_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<ClusterState> states_;
  std::vector<char> health_failing_;  // per cluster: "health_check_failed" is open (own thread)
  httplib::Server server_;
  std::thread server_thread_;
  std::vector<std::unique_ptr<StreamRunner>> streams_;
};

std::vector<Job> Daemon::MakeJobs(size_t index) {
  std::vector<Job> jobs;
  const std::string& cluster = config_.clusters[index].name;
  int64_t now = Now();
  for (const auto& s : config_.schedules) {
    auto fn = hooks_.jobs.find(s.kind);
    if (fn == hooks_.jobs.end()) {
      LogEvent("warn", "job_unavailable",
               {{"cluster", cluster},
                {"job", s.kind},
                {"message", "this build has no command for the job; it is not scheduled"}});
      continue;
    }
    auto next = s.cron.Next(now, config_.zone);
    if (!next) continue;
    jobs.push_back(Job{.kind = s.kind, .cron = s.cron, .run = fn->second, .next = *next});
  }
  return jobs;
}

// A backup whose scheduled time passed while the daemon was down runs once, now.
void Daemon::CatchUp(size_t index, std::vector<Job>& jobs) {
  int64_t newest = 0;
  {
    std::lock_guard lock(mu_);
    const auto& info = states_[index].info;
    if (!info) return;
    for (const auto& b : info->backups)
      if (b.intact()) newest = b.header->start_time_unix_micros / 1000000;
  }
  if (newest == 0) return;  // never backed up: the schedule decides
  for (auto& job : jobs) {
    if (job.kind != "backup") continue;
    auto missed = job.cron.Next(newest, config_.zone);
    if (!missed || *missed > Now()) continue;
    LogEvent("info", "catch_up",
             {{"cluster", states_[index].name},
              {"job", job.kind},
              {"missed", FormatIsoMicros(*missed * 1000000)}});
    job.retry_at = Now();  // runs at once, outside the schedule
  }
}

void Daemon::Refresh(size_t index) {
  if (!hooks_.collect_info) return;
  auto info = hooks_.collect_info(config_.clusters[index].options);
  std::lock_guard lock(mu_);
  if (info.ok()) {
    states_[index].info = std::move(*info);
  } else {
    states_[index].info.reset();
    LogEvent("warn", "repository_unreadable",
             {{"cluster", states_[index].name}, {"message", info.status().message()}});
  }
}

// The health checks before a backup: their results go to the metrics; a critical one (or checks
// that cannot run at all) fails the gate and alerts, and the first pass after that resolves it.
Status Daemon::HealthGate(size_t index) {
  const std::string& cluster = states_[index].name;
  auto result = hooks_.health_check(config_.clusters[index].options);
  Status s = result.ok() ? check::CriticalStatus(result->checks) : result.status();
  int64_t now = Now();
  {
    std::lock_guard lock(mu_);
    ClusterState& state = states_[index];
    state.health_checked_unix = now;
    if (result.ok()) {
      state.health = result->checks;
      if (result->archiver_read) {
        const check::ArchiverStatus& a = result->archiver;
        state.archive_lag_seconds = a.lag_seconds;
        state.archive_lag_segments =
            static_cast<uint64_t>(std::max<int64_t>({a.ready_segments, a.lag_segments, 0}));
      }
    } else {
      state.health = {check::HealthCheck{
          .name = "health_check", .verdict = check::Verdict::kCritical, .value = s.message()}};
    }
  }
  if (result.ok())
    for (const auto& c : result->checks)
      if (c.verdict == check::Verdict::kWarning)
        LogEvent("warn", "health_check_warning",
                 {{"cluster", cluster}, {"check", c.name}, {"message", c.value}, {"hint", c.hint}});
  if (s.ok()) {
    LogEvent("info", "health_check_ok", {{"cluster", cluster}});
    if (std::exchange(health_failing_[index], 0))
      alerter_.Raise({.event = "resolved",
                      .cluster = cluster,
                      .message = "the health checks pass again",
                      .time_unix = now,
                      .resolves = "health_check_failed"});
    return s;
  }
  LogEvent("error", "health_check_failed",
           {{"cluster", cluster},
            {"code", CodeName(s.code())},
            {"message", s.message()},
            {"hint", s.hint()}});
  health_failing_[index] = 1;
  alerter_.Raise({.event = "health_check_failed",
                  .cluster = cluster,
                  .message = fmt::format("backup skipped: {}", s.message()),
                  .time_unix = now});
  return s;
}

// After a failed (or skipped) run: retry after retry-delay, doubled per retry, at most `retry`
// times and never past the next scheduled run.
void Daemon::ScheduleRetry(Job& job, bool scheduled, int64_t now) const {
  if (scheduled) job.attempts = 0;
  job.retry_at.reset();
  if (job.attempts < config_.base.retry) {
    int64_t delay = static_cast<int64_t>(config_.base.retry_delay) << job.attempts;
    job.attempts++;
    if (now + delay < job.next) job.retry_at = now + delay;
  }
}

void Daemon::RunJob(size_t index, Job& job, bool scheduled) {
  const std::string& cluster = states_[index].name;
  if (job.kind == "backup" && hooks_.health_check && !HealthGate(index).ok()) {
    LogEvent("warn", "job_skipped",
             {{"cluster", cluster},
              {"job", job.kind},
              {"message", "a critical health check failed (health_check_failed)"}});
    ScheduleRetry(job, scheduled, Now());
    return;
  }
  LogEvent("info", "job_start",
           {{"cluster", cluster}, {"job", job.kind}, {"retry", std::to_string(job.attempts)}});
  double start = MonotonicSeconds();
  config::Options options = config_.clusters[index].options;
  Status s;
  try {
    s = job.run(options);
  } catch (const std::exception& ex) {
    s = Status::Internal(fmt::format("internal error in {}: {}", job.kind, ex.what()));
  }
  double seconds = MonotonicSeconds() - start;
  int64_t now = Now();
  {
    std::lock_guard lock(mu_);
    JobCounters& counters = states_[index].jobs[job.kind];
    counters.Record(s.ok(), seconds, now);
    counters.last_error = s.ok() ? "" : s.message();
    if (!s.ok()) states_[index].errors_total[CodeName(s.code())]++;
  }
  std::string secs = fmt::format("{:.3f}", seconds);
  if (s.ok()) {
    LogEvent("info", "job_done", {{"cluster", cluster}, {"job", job.kind}, {"seconds", secs}});
    job.retry_at.reset();
    job.attempts = 0;
    if (std::exchange(job.failing, false))
      alerter_.Raise({.event = "resolved",
                      .cluster = cluster,
                      .message = fmt::format("{} succeeded again", job.kind),
                      .time_unix = now,
                      .resolves = job.kind + "_failed"});
  } else {
    LogEvent("error", "job_failed",
             {{"cluster", cluster},
              {"job", job.kind},
              {"seconds", secs},
              {"code", CodeName(s.code())},
              {"message", s.message()},
              {"hint", s.hint()}});
    job.failing = true;
    alerter_.Raise({.event = job.kind + "_failed",
                    .cluster = cluster,
                    .message = fmt::format("{} failed: {}", job.kind, s.message()),
                    .time_unix = now});
    ScheduleRetry(job, scheduled, now);
  }
  Refresh(index);
}

void Daemon::ClusterLoop(size_t index) {
  Refresh(index);
  std::vector<Job> jobs = MakeJobs(index);
  CatchUp(index, jobs);
  int64_t refreshed = Now();
  while (true) {
    int64_t due = refreshed + kRefreshSeconds;
    {
      std::lock_guard lock(mu_);
      for (auto& job : jobs) {
        states_[index].jobs[job.kind].next_run_unix = job.next;
        due = std::min(due, job.retry_at.value_or(job.next));
      }
    }
    {
      std::unique_lock lock(mu_);
      auto wait =
          std::chrono::milliseconds(std::max<int64_t>(due * 1000 - NowUnixMicros() / 1000, 0));
      if (cv_.wait_for(lock, wait, [&] { return stopping_; })) return;
    }
    int64_t now = Now();
    for (auto& job : jobs) {
      bool scheduled = job.next <= now;
      if (!scheduled && !(job.retry_at && *job.retry_at <= now)) continue;
      if (scheduled) job.next = job.cron.Next(now, config_.zone).value_or(INT64_MAX);
      RunJob(index, job, scheduled);
      std::lock_guard lock(mu_);
      if (stopping_) return;  // finish the job that ran, start no other
    }
    if (Now() - refreshed >= kRefreshSeconds) Refresh(index), refreshed = Now();
  }
}

Status Daemon::StartServer() {
  if (config_.base.listen.empty()) return Status::Ok();
  std::string host;
  int port = 0;
  PGV_RETURN_IF_ERROR(ParseListen(config_.base.listen, host, port));
  if (!config_.base.listen_auth_file.empty()) {
    // Every path asks for the credentials before any handler runs; the password stays here.
    PGV_ASSIGN_OR_RETURN(std::string auth, ReadListenAuthFile(config_.base.listen_auth_file));
    server_.set_pre_routing_handler(
        [auth = std::move(auth)](const httplib::Request& req, httplib::Response& res) {
          if (BasicAuthMatches(req.get_header_value("Authorization"), auth))
            return httplib::Server::HandlerResponse::Unhandled;
          res.status = 401;
          res.set_header("WWW-Authenticate", kAuthChallenge);
          res.set_content("authentication required\n", "text/plain; charset=utf-8");
          return httplib::Server::HandlerResponse::Handled;
        });
  }
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(Snapshot()), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderStatusPage(Snapshot(), alerter_.Recent(), Now()),
                    "text/html; charset=utf-8");
  });
  if (!server_.bind_to_port(host, port))
    return std::move(Status::Unavailable(fmt::format("cannot listen on '{}'", config_.base.listen)))
        .WithHint("another process may use the port; set listen = HOST:PORT, or \"\" for none");
  server_thread_ = std::thread([this] { server_.listen_after_bind(); });
  LogEvent("info", "listening",
           {{"address", config_.base.listen},
            {"auth", config_.base.listen_auth_file.empty() ? "none" : "basic"}});
  return Status::Ok();
}

void WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  LogEvent("info", "signal", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
}

Status Daemon::Run() {
  PGV_RETURN_IF_ERROR(CheckWebhookUrl(config_.base.alert_webhook));
  PGV_RETURN_IF_ERROR(StartServer());
  std::vector<std::string> names;
  for (const auto& c : config_.clusters) names.push_back(c.name);
  LogEvent(
      "info", "daemon_start",
      {{"clusters", fmt::format("{}", fmt::join(names, ","))}, {"timezone", config_.zone.name()}});
  std::vector<std::thread> workers;
  for (size_t i = 0; i < config_.clusters.size(); i++)
    workers.emplace_back([this, i] { ClusterLoop(i); });
  for (size_t i = 0; i < config_.clusters.size(); i++) {
    if (!config_.clusters[i].options.wal_stream) continue;
    if (!hooks_.stream) {
      LogEvent("warn", "job_unavailable",
               {{"cluster", config_.clusters[i].name},
                {"job", "wal-stream"},
                {"message", "this build has no wal-stream; it is not started"}});
      continue;
    }
    streams_.push_back(std::make_unique<StreamRunner>(
        config_.clusters[i].name, config_.clusters[i].options, hooks_.stream, alerter_,
        [this, i](const StreamStatus& status) {
          std::lock_guard lock(mu_);
          states_[i].stream = status;
        }));
    streams_.back()->Start();
  }
  if (hooks_.wait_for_stop)
    hooks_.wait_for_stop();
  else
    WaitForSignal();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  LogEvent("info", "stopping", {{"message", "waiting for running jobs to finish"}});
  for (auto& w : workers) w.join();
  for (auto& s : streams_) s->Stop();  // each stores what it received first
  if (server_thread_.joinable()) server_.stop(), server_thread_.join();
  LogEvent("info", "daemon_stop", {});
  return Status::Ok();
}

}  // namespace

Status ParseListen(const std::string& listen, std::string& host, int& port) {
  size_t colon = listen.rfind(':');
  auto bad = [&] {
    return std::move(Status::Config(fmt::format("invalid listen address '{}'", listen)))
        .WithHint("use HOST:PORT, e.g. 127.0.0.1:9187");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const char* begin = listen.data() + colon + 1;
  const char* end = listen.data() + listen.size();
  auto [p, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc() || p != end || port < 1 || port > 65535) return bad();
  return Status::Ok();
}

Status RunDaemon(const DaemonConfig& config, const Hooks& hooks) {
  // Signals go to WaitForSignal only: block them in every thread started from here on.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (!hooks.wait_for_stop) pthread_sigmask(SIG_BLOCK, &set, nullptr);
  SetJsonLog(config.base.log_format == "json");
  // TimeZone sets TZ on first use; do that before any thread runs (setenv races getenv).
  (void)config.zone.ToLocal(0);
  Daemon daemon(config, hooks);
  return daemon.Run();
}

}  // namespace pgvault::daemon

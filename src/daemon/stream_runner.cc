#include "daemon/stream_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "common/time.h"
#include "daemon/event_log.h"

namespace pgvault::daemon {
namespace {

int64_t Now() { return NowUnixMicros() / 1000000; }

}  // namespace

StreamRunner::StreamRunner(std::string cluster, config::Options options, StreamFn run,
                           Alerter& alerter, std::function<void(const StreamStatus&)> publish)
    : cluster_(std::move(cluster)),
      options_(std::move(options)),
      run_(std::move(run)),
      alerter_(alerter),
      publish_(std::move(publish)) {}

void StreamRunner::Start() {
  publish_(status_);
  thread_ = std::thread([this] { Loop(); });
}

void StreamRunner::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void StreamRunner::OnProgress(const stream::StreamProgress& p) {
  int64_t now = Now();
  StreamStatus copy;
  bool resolved = false;
  {
    std::lock_guard lock(mu_);
    if (p.received >= p.server_end || caught_up_unix_ == 0) caught_up_unix_ = now;
    status_.last_progress_unix = now;
    status_.timeline = p.timeline;
    status_.received = p.received;
    status_.flushed = p.flushed;
    status_.stored = p.stored;
    status_.server_end = p.server_end;
    status_.lag_seconds =
        p.received >= p.server_end ? 0 : static_cast<double>(now - caught_up_unix_);
    status_.last_error.clear();
    resolved = std::exchange(failing_, false);
    copy = status_;
  }
  publish_(copy);
  if (resolved)
    alerter_.Raise({.event = "resolved",
                    .cluster = cluster_,
                    .message = "wal-stream streams again",
                    .time_unix = now,
                    .resolves = "wal_stream_failed"});
}

void StreamRunner::Loop() {
  int64_t delay = std::max(1, options_.retry_delay);
  while (!stop_) {
    LogEvent("info", "wal_stream_start", {{"cluster", cluster_}});
    Status s;
    try {
      s = run_(
          options_, [this] { return stop_.load(); },
          [this](const stream::StreamProgress& p) { OnProgress(p); });
    } catch (const std::exception& ex) {
      s = Status::Internal(fmt::format("internal error in wal-stream: {}", ex.what()));
    }
    if (stop_) break;
    // RunWalStream returns Ok only when asked to stop: anything else is a failure.
    if (s.ok()) s = Status::Internal("wal-stream ended without being asked to");
    StreamStatus copy;
    {
      std::lock_guard lock(mu_);
      status_.failures++;
      status_.last_error = s.message();
      failing_ = true;
      copy = status_;
    }
    publish_(copy);
    LogEvent("error", "wal_stream_failed",
             {{"cluster", cluster_},
              {"code", CodeName(s.code())},
              {"message", s.message()},
              {"hint", s.hint()},
              {"retry_in", std::to_string(delay)}});
    alerter_.Raise({.event = "wal_stream_failed",
                    .cluster = cluster_,
                    .message = fmt::format("wal-stream failed: {}", s.message()),
                    .time_unix = Now()});
    for (int64_t waited = 0; waited < delay * 10 && !stop_; ++waited)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    delay = std::min<int64_t>(delay * 2, 300);
  }
  LogEvent("info", "wal_stream_stop", {{"cluster", cluster_}});
}

}  // namespace pgvault::daemon

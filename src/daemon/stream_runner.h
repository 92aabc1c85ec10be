// StreamRunner: keeps `pgvault wal-stream` running for one cluster (wal-stream = true in its
// section) on a thread of the daemon. wal-stream retries a lost connection itself; when it ends
// with an error (a configuration that never worked, a repository it may not write), the runner
// raises wal_stream_failed and starts it again after retry-delay seconds, doubled per failure up
// to 5 minutes; once WAL flows again it sends "resolved". Stop() asks wal-stream to store what it
// received and waits for it.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "config/options.h"
#include "daemon/alerts.h"
#include "daemon/metrics.h"
#include "stream/wal_stream.h"

namespace pgvault::daemon {

using StreamFn = std::function<Status(const config::Options&, const std::function<bool()>& stop,
                                      const std::function<void(const stream::StreamProgress&)>&)>;

class StreamRunner {
 public:
  // publish is called with the cluster's stream status after every change.
  StreamRunner(std::string cluster, config::Options options, StreamFn run, Alerter& alerter,
               std::function<void(const StreamStatus&)> publish);
  ~StreamRunner() { Stop(); }
  StreamRunner(const StreamRunner&) = delete;
  StreamRunner& operator=(const StreamRunner&) = delete;

  void Start();
  void Stop();

 private:
  void Loop();
  void OnProgress(const stream::StreamProgress& p);

  std::string cluster_;
  config::Options options_;
  StreamFn run_;
  Alerter& alerter_;
  std::function<void(const StreamStatus&)> publish_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  StreamStatus status_;
  int64_t caught_up_unix_ = 0;
  bool failing_ = false;
  std::thread thread_;
};

}  // namespace pgvault::daemon

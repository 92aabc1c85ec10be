// Alerts: a webhook (a JSON POST of event, cluster, message, time) and/or a command hook (the
// event in PGVAULT_EVENT, PGVAULT_CLUSTER, PGVAULT_MESSAGE, PGVAULT_TIME). Raise only queues:
// delivery, its retries with backoff and the command's run happen on the alerter's own thread,
// so an alert never blocks or fails a job. At most one alert per cluster and event kind per
// interval (later ones are counted and the count goes out with the next); "resolved" events,
// sent when a failing condition recovers, are never held back.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace pgvault::daemon {

struct AlertEvent {
  std::string event;  // "backup_failed", "verify_failed", ..., or "resolved"
  std::string cluster;
  std::string message;
  int64_t time_unix = 0;
  std::string resolves;     // for "resolved": the event kind that recovered
  uint64_t suppressed = 0;  // alerts of this kind held back by the rate limit since the last
};

struct AlertOptions {
  std::string webhook;  // http://HOST[:PORT]/PATH or https://...; "" = none
  std::string command;  // run with /bin/sh -c; "" = none
  int interval_seconds = 300;
  int attempts = 4;              // webhook deliveries tried per alert
  double backoff_seconds = 2.0;  // before the second attempt; doubled after each
};

std::string AlertJson(const AlertEvent& e);
// Checks the webhook URL's form (kConfig with a hint).
Status CheckWebhookUrl(const std::string& url);

class Alerter {
 public:
  explicit Alerter(AlertOptions options);
  ~Alerter();  // delivers what is queued (one attempt each) and joins
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;
  // Queues the alert unless the rate limit holds it back; returns at once.
  void Raise(AlertEvent e);
  // The newest alerts raised (sent or being sent), newest last; at most 50.
  std::vector<AlertEvent> Recent() const;

 private:
  void Run();
  void Deliver(const AlertEvent& e, bool last_chance);
  bool PostOnce(const std::string& body, std::string& error) const;
  void RunCommand(const AlertEvent& e) const;
  AlertOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AlertEvent> queue_, recent_;
  std::map<std::string, int64_t> last_sent_;    // cluster/event -> time
  std::map<std::string, uint64_t> suppressed_;  // cluster/event -> count
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pgvault::daemon

#include "daemon/alerts.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spawn.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "common/time.h"
#include "daemon/event_log.h"

extern char** environ;

namespace pgvault::daemon {
namespace {

constexpr size_t kRecentMax = 50;

// "http://host:8080/hook" -> {"http://host:8080", "/hook"}.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return {url, "/"};
  return {url.substr(0, path), url.substr(path)};
}

}  // namespace

std::string AlertJson(const AlertEvent& e) {
  nlohmann::ordered_json j = {{"event", e.event},
                              {"cluster", e.cluster},
                              {"message", e.message},
                              {"time", FormatIsoMicros(e.time_unix * 1000000)}};
  if (!e.resolves.empty()) j["resolves"] = e.resolves;
  if (e.suppressed > 0) j["suppressed"] = e.suppressed;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status CheckWebhookUrl(const std::string& url) {
  if (url.empty() || url.starts_with("http://") || url.starts_with("https://")) return Status::Ok();
  return std::move(Status::Config(fmt::format("alert-webhook '{}' is not an http(s) URL", url)))
      .WithHint("use alert-webhook = \"http://HOST:PORT/PATH\" or https://...");
}

Alerter::Alerter(AlertOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

Alerter::~Alerter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Alerter::Raise(AlertEvent e) {
  std::lock_guard lock(mu_);
  std::string key = e.cluster + "/" + e.event;
  if (e.event != "resolved") {
    auto it = last_sent_.find(key);
    if (it != last_sent_.end() && e.time_unix - it->second < options_.interval_seconds) {
      suppressed_[key]++;
      LogEvent("info", "alert_suppressed", {{"cluster", e.cluster}, {"alert", e.event}});
      return;
    }
    last_sent_[key] = e.time_unix;
    e.suppressed = std::exchange(suppressed_[key], 0);
  }
  recent_.push_back(e);
  if (recent_.size() > kRecentMax) recent_.pop_front();
  queue_.push_back(std::move(e));
  cv_.notify_all();
}

std::vector<AlertEvent> Alerter::Recent() const {
  std::lock_guard lock(mu_);
  return {recent_.begin(), recent_.end()};
}

void Alerter::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    AlertEvent e = std::move(queue_.front());
    queue_.pop_front();
    bool last_chance = stopping_;
    lock.unlock();
    Deliver(e, last_chance);
    lock.lock();
  }
}

bool Alerter::PostOnce(const std::string& body, std::string& error) const {
  auto [base, path] = SplitUrl(options_.webhook);
  httplib::Client client(base);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  client.set_write_timeout(10);
  auto res = client.Post(path, body, "application/json");
  if (!res) return error = httplib::to_string(res.error()), false;
  if (res->status / 100 == 2) return true;
  return error = fmt::format("HTTP status {}", res->status), false;
}

void Alerter::Deliver(const AlertEvent& e, bool last_chance) {
  if (!options_.command.empty()) RunCommand(e);
  if (options_.webhook.empty()) return;
  std::string body = AlertJson(e), error;
  double delay = options_.backoff_seconds;
  int attempts = last_chance ? 1 : std::max(options_.attempts, 1);
  for (int attempt = 1; attempt <= attempts; attempt++) {
    if (PostOnce(body, error)) {
      LogEvent("info", "alert_sent", {{"cluster", e.cluster}, {"alert", e.event}});
      return;
    }
    LogEvent("warn", "alert_retry",
             {{"cluster", e.cluster},
              {"alert", e.event},
              {"attempt", std::to_string(attempt)},
              {"error", error}});
    if (attempt == attempts) break;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::duration<double>(delay), [&] { return stopping_; }))
      break;  // shutting down: no more waiting
    delay *= 2;
  }
  LogEvent("error", "alert_failed", {{"cluster", e.cluster}, {"alert", e.event}, {"error", error}});
}

void Alerter::RunCommand(const AlertEvent& e) const {
  std::vector<std::string> vars = {
      "PGVAULT_EVENT=" + e.event, "PGVAULT_CLUSTER=" + e.cluster, "PGVAULT_MESSAGE=" + e.message,
      "PGVAULT_TIME=" + FormatIsoMicros(e.time_unix * 1000000), "PGVAULT_RESOLVES=" + e.resolves};
  std::vector<char*> env;
  env.reserve(vars.size() + 1);
  for (auto& v : vars) env.push_back(v.data());
  for (char** p = environ; *p; p++)
    if (std::string_view(*p).substr(0, 8) != "PGVAULT_") env.push_back(*p);  // no secrets
  env.push_back(nullptr);
  std::string command = options_.command;
  char sh[] = "/bin/sh", dash_c[] = "-c";
  char* argv[] = {sh, dash_c, command.data(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, env.data());
  int status = 0;
  if (rc == 0) ::waitpid(pid, &status, 0);
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    LogEvent("error", "alert_command_failed",
             {{"cluster", e.cluster},
              {"alert", e.event},
              {"status", rc != 0 ? std::string(std::strerror(rc)) : std::to_string(status)}});
}

}  // namespace pgvault::daemon

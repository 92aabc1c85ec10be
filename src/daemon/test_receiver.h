// Tests only: a webhook receiver on a free loopback port (alerts_test, daemon_test, and the
// integration test test/integration/daemon_test.cc).
#pragma once

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace pgvault::daemon {

// Fails the first `fail_first` requests with HTTP 500; keeps the JSON bodies of the others.
class Receiver {
 public:
  explicit Receiver(int fail_first) : fail_first_(fail_first) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      if (requests_++ < fail_first_) {
        res.status = 500;
        return;
      }
      bodies_.push_back(nlohmann::json::parse(req.body));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return fmt::format("http://127.0.0.1:{}/hook", port_); }
  // Waits up to 10 s for n bodies.
  std::vector<nlohmann::json> WaitFor(size_t n) {
    for (int i = 0; i < 1000; i++) {
      {
        std::lock_guard lock(mu_);
        if (bodies_.size() >= n) return bodies_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu_);
    return bodies_;
  }
  // Waits up to `seconds` for a body whose "event" is `name`; returns it, or null.
  nlohmann::json WaitForEvent(const std::string& name, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        for (const auto& body : bodies_)
          if (body["event"] == name) return body;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  int fail_first_ = 0, requests_ = 0;
  std::vector<nlohmann::json> bodies_;
};

// The "event" of each body in order; a "resolved" one as "resolved EVENT" (what it resolves).
inline std::vector<std::string> EventsOf(const std::vector<nlohmann::json>& bodies) {
  std::vector<std::string> events;
  for (const auto& body : bodies) {
    std::string event = body.value("event", "");
    if (event == "resolved") event += " " + body.value("resolves", "");
    events.push_back(event);
  }
  return events;
}

}  // namespace pgvault::daemon

#include "daemon/alerts.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "daemon/test_receiver.h"

namespace pgvault::daemon {
namespace {

AlertEvent Event(const std::string& kind, int64_t t) {
  return AlertEvent{
      .event = kind, .cluster = "main", .message = "backup failed: x", .time_unix = t};
}

TEST(AlertsTest, WebhookIsRetriedWithBackoffUntilTheReceiverTakesIt) {
  Receiver receiver(2);
  Alerter alerter({.webhook = receiver.Url(), .attempts = 4, .backoff_seconds = 0.05});
  auto start = std::chrono::steady_clock::now();
  alerter.Raise(Event("backup_failed", 1780272000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));  // queued
  auto bodies = receiver.WaitFor(1);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(receiver.requests(), 3);
  EXPECT_EQ(bodies[0]["event"], "backup_failed");
  EXPECT_EQ(bodies[0]["cluster"], "main");
  EXPECT_EQ(bodies[0]["message"], "backup failed: x");
  EXPECT_EQ(bodies[0]["time"], "2026-06-01T00:00:00.000000Z");
}

TEST(AlertsTest, RateLimitPerKindHoldsRepeatsButNeverResolved) {
  Receiver receiver(0);
  Alerter alerter({.webhook = receiver.Url(), .interval_seconds = 300});
  alerter.Raise(Event("backup_failed", 1000));
  alerter.Raise(Event("backup_failed", 1010));  // held back
  alerter.Raise(Event("backup_failed", 1020));  // held back
  alerter.Raise(Event("verify_failed", 1020));  // another kind
  AlertEvent resolved = Event("resolved", 1030);
  resolved.resolves = "backup_failed";
  alerter.Raise(resolved);
  alerter.Raise(Event("backup_failed", 1400));  // interval over: sent, with the held-back count
  auto bodies = receiver.WaitFor(4);
  ASSERT_EQ(EventsOf(bodies),
            (std::vector<std::string>{"backup_failed", "verify_failed", "resolved backup_failed",
                                      "backup_failed"}));
  EXPECT_EQ(bodies[3]["suppressed"], 2);
  EXPECT_EQ(alerter.Recent().size(), 4u);
}

TEST(AlertsTest, AnUnreachableWebhookGivesUpWithoutBlockingTheCaller) {
  Alerter alerter({.webhook = "http://127.0.0.1:1/hook", .attempts = 2, .backoff_seconds = 0.01});
  auto start = std::chrono::steady_clock::now();
  alerter.Raise(Event("backup_failed", 1000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
}

TEST(AlertsTest, CommandHookGetsTheEventInItsEnvironmentButNoSecrets) {
  std::string out = ::testing::TempDir() + "/alert_env_" + std::to_string(::getpid());
  ::setenv("PGVAULT_PASSPHRASE", "secret", 1);
  {
    Alerter alerter({.command = "env | grep ^PGVAULT_ | sort > " + out});
    alerter.Raise(Event("backup_failed", 1780272000));
  }  // the destructor delivers what is queued
  ::unsetenv("PGVAULT_PASSPHRASE");
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(),
            "PGVAULT_CLUSTER=main\nPGVAULT_EVENT=backup_failed\nPGVAULT_MESSAGE=backup failed: x\n"
            "PGVAULT_RESOLVES=\nPGVAULT_TIME=2026-06-01T00:00:00.000000Z\n");
  std::remove(out.c_str());
}

TEST(AlertsTest, WebhookMustBeHttp) {
  EXPECT_TRUE(CheckWebhookUrl("").ok());
  EXPECT_TRUE(CheckWebhookUrl("https://hooks.example.com/x").ok());
  EXPECT_EQ(CheckWebhookUrl("ftp://x").message(), "alert-webhook 'ftp://x' is not an http(s) URL");
}

}  // namespace
}  // namespace pgvault::daemon

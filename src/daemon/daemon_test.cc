#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

#include "config/settings.h"
#include "daemon/test_receiver.h"

namespace pgvault::daemon {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

DaemonConfig Config(const std::string& text) {
  config::Options base = config::DefaultOptions();
  EXPECT_TRUE(config::ApplyConfigText(text, "d.toml", base).ok());
  base.config = "d.toml";
  auto c = ParseDaemonConfig(base, text, "d.toml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

TEST(DaemonConfigTest, ClustersOverrideTopLevelAndSchedulesAreChecked) {
  DaemonConfig c = Config(
      "repo = \"/top\"\ntimezone = \"Europe/Berlin\"\n[schedule]\nbackup = \"0 2 * * *\"\n"
      "verify = \"@weekly\"\n[cluster.a]\npg-port = 5433\n[cluster.b]\nrepo = \"/b\"\n");
  ASSERT_EQ(c.clusters.size(), 2u);
  EXPECT_EQ(c.clusters[0].name, "a");
  EXPECT_EQ(c.clusters[0].options.repo, "/top");
  EXPECT_EQ(c.clusters[0].options.pg_port, 5433);
  EXPECT_EQ(c.clusters[1].options.repo, "/b");
  EXPECT_EQ(c.zone.name(), "Europe/Berlin");
  ASSERT_EQ(c.schedules.size(), 2u);
  config::Options base = config::DefaultOptions();
  base.repo = "/r";
  auto bad = ParseDaemonConfig(base, "[schedule]\nbakup = \"0 2 * * *\"\n", "d.toml");
  EXPECT_EQ(bad.status().message(), "config file 'd.toml': unknown job 'bakup' in [schedule]");
  auto cron = ParseDaemonConfig(base, "[schedule]\nbackup = \"0 25 * * *\"\n", "d.toml");
  EXPECT_EQ(cron.status().message(),
            "config file 'd.toml': schedule.backup: invalid hour field '25' in cron expression "
            "'0 25 * * *'");
  std::string host;
  int port = 0;
  EXPECT_TRUE(ParseListen("127.0.0.1:9187", host, port).ok());
  EXPECT_EQ(port, 9187);
  EXPECT_EQ(ParseListen("9187", host, port).message(), "invalid listen address '9187'");
}

// A job that fails twice, then succeeds, on a schedule of every second: one alert for the
// failure (the second is held back by the rate limit), a retry, and "resolved" after.
TEST(DaemonTest, FailingJobAlertsRetriesAndResolvesWhileMetricsAreServed) {
  Receiver receiver(0);
  int port = FreePort();
  DaemonConfig config = Config(
      fmt::format("repo = \"/r\"\nlisten = \"127.0.0.1:{}\"\nalert-webhook = \"{}\"\nretry = 1\n"
                  "retry-delay = 1\n[schedule]\nbackup = \"* * * * * *\"\ndrill = \"0 3 * * *\"\n"
                  "[cluster.main]\n",
                  port, receiver.Url()));
  std::atomic<int> calls{0};
  std::string metrics, page;
  Hooks hooks;
  hooks.jobs["backup"] = [&](config::Options& o) {
    EXPECT_EQ(o.repo, "/r");
    return ++calls <= 2 ? Status::Unavailable("cannot connect to the server") : Status::Ok();
  };
  hooks.wait_for_stop = [&] {
    receiver.WaitFor(2);
    httplib::Client client(fmt::format("http://127.0.0.1:{}", port));
    if (auto res = client.Get("/metrics")) metrics = res->body;
    if (auto res = client.Get("/")) page = res->body;
  };
  ASSERT_TRUE(RunDaemon(config, hooks).ok());
  auto bodies = receiver.WaitFor(2);
  ASSERT_EQ(EventsOf(bodies),
            (std::vector<std::string>{"backup_failed", "resolved backup_failed"}));
  EXPECT_EQ(bodies[0]["message"], "backup failed: cannot connect to the server");
  EXPECT_GE(calls.load(), 3);
  EXPECT_NE(
      metrics.find("pgvault_job_runs_total{cluster=\"main\",job=\"backup\",result=\"failure\"} 2"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("pgvault_errors_total{cluster=\"main\",kind=\"unavailable\"} 2"),
            std::string::npos);
  EXPECT_NE(page.find("<h2>cluster main</h2>"), std::string::npos);
  EXPECT_NE(page.find("backup_failed"), std::string::npos);
}

// Health checks before each backup: while one is critical the backup is skipped and
// "health_check_failed" is raised; once they pass, the backup runs and "resolved" follows. The
// checks' verdicts and the archive lag they measured are in /metrics.
TEST(DaemonTest, CriticalHealthCheckSkipsTheBackupAlertsAndResolves) {
  Receiver receiver(0);
  int port = FreePort();
  DaemonConfig config = Config(
      fmt::format("repo = \"/r\"\nlisten = \"127.0.0.1:{}\"\nalert-webhook = \"{}\"\nretry = 0\n"
                  "[schedule]\nbackup = \"* * * * * *\"\n[cluster.main]\n",
                  port, receiver.Url()));
  std::atomic<int> checks{0}, backups{0};
  std::string metrics;
  Hooks hooks;
  hooks.jobs["backup"] = [&](config::Options&) { return ++backups, Status::Ok(); };
  hooks.health_check = [&](const config::Options& o) -> Result<check::CheckResult> {
    EXPECT_EQ(o.repo, "/r");
    check::CheckResult r;
    r.archiver_read = true;
    r.archiver.lag_seconds = 42;
    r.archiver.ready_segments = 3;
    r.checks.push_back({.name = "connectivity", .value = "PostgreSQL 15.4"});
    if (++checks <= 2)
      r.checks.push_back({.name = "disk_spool",
                          .verdict = check::Verdict::kCritical,
                          .value = "1.0 MiB free",
                          .hint = "free some space"});
    return r;
  };
  hooks.wait_for_stop = [&] {
    receiver.WaitFor(2);
    httplib::Client client(fmt::format("http://127.0.0.1:{}", port));
    if (auto res = client.Get("/metrics")) metrics = res->body;
  };
  ASSERT_TRUE(RunDaemon(config, hooks).ok());
  auto bodies = receiver.WaitFor(2);
  ASSERT_EQ(EventsOf(bodies),
            (std::vector<std::string>{"health_check_failed", "resolved health_check_failed"}));
  EXPECT_EQ(bodies[0]["message"],
            "backup skipped: health check 'disk_spool' is critical: 1.0 MiB free");
  EXPECT_GE(checks.load(), 3);
  EXPECT_EQ(backups.load(), checks.load() - 2);  // the first two were skipped
  EXPECT_NE(metrics.find("pgvault_health_check_ok{cluster=\"main\",check=\"connectivity\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("pgvault_archive_lag_seconds{cluster=\"main\"} 42"), std::string::npos);
  EXPECT_NE(metrics.find("pgvault_archive_lag_segments{cluster=\"main\"} 3"), std::string::npos);
}

// The newest backup is two days old and the schedule is daily: one backup runs at once.
TEST(DaemonTest, MissedBackupIsCaughtUpOnceAtStart) {
  DaemonConfig config =
      Config("repo = \"/r\"\nlisten = \"\"\n[schedule]\nbackup = \"0 2 * * *\"\n");
  std::atomic<int> calls{0};
  Hooks hooks;
  hooks.jobs["backup"] = [&](config::Options&) { return ++calls, Status::Ok(); };
  hooks.collect_info = [](const config::Options&) -> Result<info::RepoInfo> {
    info::RepoInfo info;
    repo::ManifestHeader h;
    h.start_time_unix_micros = (std::time(nullptr) - 2 * 86400) * int64_t{1000000};
    info.backups.push_back({"old", h, ""});
    return info;
  };
  hooks.wait_for_stop = [&] {
    for (int i = 0; i < 500 && calls == 0; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  };
  ASSERT_TRUE(RunDaemon(config, hooks).ok());
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace pgvault::daemon

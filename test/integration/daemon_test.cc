// The daemon against a real PostgreSQL 15 (issue 12): a fast schedule (every 5 s, the optional
// seconds field) runs backups that restore; /metrics agrees with `info --json`; a webhook
// receiver gets "health_check_failed" (the health checks before each backup find the cluster
// unreachable and skip the backup) when the cluster is stopped and "resolved" once it runs again;
// SIGTERM during a backup lets it finish and leaves a repository that verifies.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "daemon/test_receiver.h"
#include "marks.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

using Clock = std::chrono::steady_clock;

// name{labels} value lines of the exposition format; every sample line must parse.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+))");
  static const std::regex kMeta(R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, kMeta)) continue;
    if (!std::regex_match(line, m, kSample)) throw HarnessError("bad metrics line: " + line);
    out[std::string(m[1]) + std::string(m[2])] = std::stod(m[3]);
  }
  return out;
}

int64_t IsoToUnix(const std::string& iso) {
  std::tm tm{};
  strptime(iso.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return timegm(&tm);
}

// Waits until the repository holds at least n backups.
nlohmann::json WaitForBackups(const TestRepo& repo, size_t n, int seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  nlohmann::json info;
  while (Clock::now() < deadline) {
    info = repo.Info();
    if (info["backups"].size() >= n) return info;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return info;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

std::string WriteConfig(const TestRepo& repo, const PgCluster& cluster, int port,
                        const std::string& webhook) {
  std::string path = repo.dir().Sub("daemon.toml");
  WriteFile(path, fmt::format("repo = \"{}\"\nlisten = \"127.0.0.1:{}\"\n"
                              "alert-webhook = \"{}\"\nretry = 0\ntimezone = \"Europe/Berlin\"\n"
                              "[schedule]\nbackup = \"*/5 * * * * *\"\n"
                              "[cluster.main]\npgdata = \"{}\"\npg-host = \"127.0.0.1\"\n"
                              "pg-port = {}\njobs = 1\n",
                              repo.path(), port, webhook, cluster.pgdata(), cluster.port()));
  return path;
}

void CheckMetricsMatchInfo(const TestRepo& repo, int port) {
  httplib::Client client(fmt::format("http://127.0.0.1:{}", port));
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto metrics = ParseMetrics(res->body);
  nlohmann::json info = repo.Info();
  double count = metrics["pgvault_backups{cluster=\"main\",tier=\"full\"}"];
  ASSERT_GE(count, 1);
  ASSERT_LE(count, info["backups"].size());  // a backup may have finished since the scrape
  const auto& newest = info["backups"][static_cast<size_t>(count) - 1];
  EXPECT_EQ(
      static_cast<int64_t>(
          metrics["pgvault_backup_last_success_timestamp_seconds{cluster=\"main\",tier=\"full\"}"]),
      IsoToUnix(newest["stop_time"]));
  EXPECT_EQ(metrics["pgvault_backup_last_read_bytes{cluster=\"main\",tier=\"full\"}"],
            newest["bytes_read"].get<double>());
  EXPECT_EQ(metrics["pgvault_repository_up{cluster=\"main\"}"], 1);
  // The health checks ran before the backups: each ok, the archive lag measured.
  for (const char* check : {"connectivity", "system_identifier", "archive", "repository_writable"})
    EXPECT_EQ(
        metrics[fmt::format("pgvault_health_check_ok{{cluster=\"main\",check=\"{}\"}}", check)], 1)
        << check << "\n"
        << res->body;
  EXPECT_TRUE(metrics.count("pgvault_archive_lag_seconds{cluster=\"main\"}")) << res->body;
  EXPECT_TRUE(metrics.count("pgvault_archive_lag_segments{cluster=\"main\"}")) << res->body;
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<td class=\"backup-id\">"), std::string::npos);
}

TEST(DaemonTest, ScheduledBackupsRestoreAlertsResolveAndSigtermLeavesAValidRepository) {
  TestRepo repo(RepoCipher::kPassphrase);
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "2", "-q"});
  source->SwitchWalAndWaitArchived();
  daemon::Receiver receiver(/*fail_first=*/0);
  int port = FreePort();
  std::string config = WriteConfig(repo, *source, port, receiver.Url());
  auto daemon = StartPgvault({"daemon", "--config", config, "--log-format", "json"}, repo.env());

  nlohmann::json info = WaitForBackups(repo, 2, 120);
  ASSERT_GE(info["backups"].size(), 2u) << daemon->StderrSoFar();
  CheckMetricsMatchInfo(repo, port);

  // Idle cost, between two runs of the 5 s schedule is not idle: measure RSS only.
  std::string status = ReadFile(fmt::format("/proc/{}/status", daemon->pid()));
  std::smatch rss;
  if (std::regex_search(status, rss, std::regex(R"(VmRSS:\s+(\d+) kB)")))
    ReportFigure("daemon RSS (kB)", rss[1]);

  auto stopped_at = Clock::now();
  source->Stop();
  nlohmann::json failed = receiver.WaitForEvent("health_check_failed", 60);
  ASSERT_FALSE(failed.is_null()) << daemon->StderrSoFar();
  ReportFigure(
      "cluster stop to alert (s)",
      fmt::format("{:.1f}", std::chrono::duration<double>(Clock::now() - stopped_at).count()));
  EXPECT_EQ(failed["cluster"], "main");
  EXPECT_NE(failed["message"].get<std::string>().find(
                "backup skipped: health check 'connectivity' is critical: "),
            std::string::npos)
      << failed.dump();
  source->Start();
  nlohmann::json resolved = receiver.WaitForEvent("resolved", 60);
  ASSERT_FALSE(resolved.is_null()) << daemon->StderrSoFar();
  EXPECT_EQ(resolved["resolves"], "health_check_failed");

  // SIGTERM while a backup runs: it finishes, the daemon exits 0.
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    std::string err = daemon->StderrSoFar();
    if (Count(err, "\"event\":\"job_start\"") >
        Count(err, "\"event\":\"job_done\"") + Count(err, "\"event\":\"job_failed\""))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  daemon->Signal(SIGTERM);
  ProcessResult exited = daemon->Wait(std::chrono::seconds(300));
  EXPECT_EQ(exited.exit_code, 0) << exited.err;
  EXPECT_NE(exited.err.find("\"event\":\"stopping\""), std::string::npos) << exited.err;
  EXPECT_EQ(FilesUnder(repo.path(), "locks/"), std::vector<std::string>{});
  ProcessResult verify = repo.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // The newest scheduled backup restores.
  std::string sums = source->Scalar("SELECT count(*) FROM pgbench_accounts");
  source->SwitchWalAndWaitArchived();
  TempDir target("restored");
  int restore_port = FreePort();
  ProcessResult restored =
      repo.Run({"restore", "--pgdata", target.Sub("pgdata"), "--pg-host", "127.0.0.1", "--pg-port",
                std::to_string(restore_port), "--start"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  Restored copy(target.Sub("pgdata"), restore_port);
  EXPECT_EQ(copy.Scalar("SELECT count(*) FROM pgbench_accounts"), sums);
}

}  // namespace
}  // namespace pgvault::test

// The daemon against a real PostgreSQL 15 (issue 12): a fast schedule (every 5 s, the optional
// seconds field) runs backups that restore; /metrics agrees with `info --json`; a webhook
// receiver gets "health_check_failed" (the health checks before each backup find the cluster
// unreachable and skip the backup) when the cluster is stopped and "resolved" once it runs again;
// SIGTERM during a backup lets it finish and leaves a repository that verifies.
// DaemonStatusPageTest: with --listen-auth-file the listener answers 401 without the credentials;
// headless Chromium (Debian's chromium-headless-shell or chromium) renders the status page, whose
// DOM names the newest backup of `info --json`, and takes a screenshot (status-page.png in the
// working directory, i.e. the build directory under ctest).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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

// extra: more top-level lines (before [schedule]).
std::string WriteConfig(const TestRepo& repo, const PgCluster& cluster, int port,
                        const std::string& webhook,
                        const std::string& backup_cron = "*/5 * * * * *",
                        const std::string& extra = "") {
  std::string path = repo.dir().Sub("daemon.toml");
  WriteFile(path, fmt::format("repo = \"{}\"\nlisten = \"127.0.0.1:{}\"\n"
                              "alert-webhook = \"{}\"\nretry = 0\ntimezone = \"Europe/Berlin\"\n"
                              "{}[schedule]\nbackup = \"{}\"\n"
                              "[cluster.main]\npgdata = \"{}\"\npg-host = \"127.0.0.1\"\n"
                              "pg-port = {}\njobs = 1\n",
                              repo.path(), port, webhook, extra, backup_cron, cluster.pgdata(),
                              cluster.port()));
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

// The first of Debian's headless Chromium binaries that is installed, else "".
std::string FindChromium() {
  for (const char* path : {"/usr/bin/chromium-headless-shell", "/usr/bin/chromium"})
    if (::access(path, X_OK) == 0) return path;
  return "";
}

// chromium MODE URL as postgres, with a profile and HOME of its own (the sandbox stays on: it
// works for an unprivileged user). --disable-dev-shm-usage: containers often have a tiny /dev/shm.
ProcessResult RunChromium(const std::string& chromium, const TempDir& home,
                          const std::vector<std::string>& mode, const std::string& url) {
  std::vector<std::string> argv = {chromium,
                                   "--headless",
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--no-first-run",
                                   "--hide-scrollbars",
                                   "--user-data-dir=" + home.Sub("profile")};
  argv.insert(argv.end(), mode.begin(), mode.end());
  argv.push_back(url);
  return RunAsPostgres(argv, {"HOME=" + home.path()}, std::chrono::seconds(120));
}

std::vector<std::string> BackupIdCells(const std::string& dom) {
  static const std::regex kCell(R"(<td class="backup-id">([^<]+)</td>)");
  std::vector<std::string> ids;
  for (std::sregex_iterator it(dom.begin(), dom.end(), kCell), end; it != end; ++it)
    ids.push_back((*it)[1]);
  return ids;
}

std::string NewestId(const nlohmann::json& info) {
  return info["backups"].empty() ? "" : info["backups"].back()["id"].get<std::string>();
}

TEST(DaemonStatusPageTest, BasicAuthAndHeadlessChromiumShowsTheNewestBackup) {
  std::string chromium = FindChromium();
  ASSERT_FALSE(chromium.empty())
      << "no headless Chromium in /usr/bin: install Debian's chromium-headless-shell "
         "(scripts/install-deps.sh does)";
  TestRepo repo(RepoCipher::kPassphrase);
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->SwitchWalAndWaitArchived();
  // The credentials: a file of postgres' (the daemon's user) with mode 0600.
  const std::string password = "pw-" + std::to_string(::getpid()) + "-x:y";
  std::string auth_file = repo.dir().Sub("listen-auth");
  WriteFile(auth_file, "prom:" + password + "\n");
  passwd* pw = ::getpwnam("postgres");
  ASSERT_NE(pw, nullptr);
  ASSERT_EQ(::chown(auth_file.c_str(), pw->pw_uid, pw->pw_gid), 0);
  ASSERT_EQ(::chmod(auth_file.c_str(), 0600), 0);
  int port = FreePort();
  // A backup every 15 s: the first comes soon, and the page is stable between two.
  std::string config = WriteConfig(repo, *source, port, "", "*/15 * * * * *",
                                   fmt::format("listen-auth-file = \"{}\"\n", auth_file));
  auto daemon = StartPgvault({"daemon", "--config", config, "--log-format", "json"}, repo.env());
  nlohmann::json info = WaitForBackups(repo, 1, 120);
  ASSERT_GE(info["backups"].size(), 1u) << daemon->StderrSoFar();

  // Basic auth: 401 with a challenge without (or with wrong) credentials, 200 with them.
  httplib::Client client(fmt::format("http://127.0.0.1:{}", port));
  for (const char* path : {"/", "/metrics"}) {
    auto anonymous = client.Get(path);
    ASSERT_TRUE(anonymous) << path;
    EXPECT_EQ(anonymous->status, 401) << path;
    EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"),
              "Basic realm=\"pgvault\", charset=\"UTF-8\"");
    EXPECT_EQ(anonymous->body.find("pgvault_"), std::string::npos);
  }
  httplib::Client wrong(fmt::format("http://127.0.0.1:{}", port));
  wrong.set_basic_auth("prom", password + "z");
  auto refused = wrong.Get("/metrics");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  client.set_basic_auth("prom", password);
  // The daemon re-reads info just after its backup, a moment after `info --json` can see it.
  std::string metrics;
  for (auto deadline = Clock::now() + std::chrono::seconds(30); Clock::now() < deadline;) {
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    metrics = res->body;
    if (metrics.find("pgvault_backups{cluster=\"main\",tier=\"full\"}") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(metrics.find("pgvault_backups{cluster=\"main\",tier=\"full\"}"), std::string::npos)
      << metrics;

  // Headless Chromium: the credentials in the URL answer the challenge of the top-level page.
  TempDir home("chromium");
  std::string url = fmt::format("http://prom:pw-{}-x%3Ay@127.0.0.1:{}/", ::getpid(), port);
  // A backup may finish between info and the page: compare only when info is the same around it.
  bool compared = false;
  for (int attempt = 0; attempt < 3 && !compared; attempt++) {
    std::string before = NewestId(repo.Info());
    ProcessResult dom = RunChromium(chromium, home, {"--dump-dom"}, url);
    ASSERT_EQ(dom.exit_code, 0) << dom.err;
    if (NewestId(repo.Info()) != before) continue;
    compared = true;
    EXPECT_NE(dom.out.find("<h1>pgvault status</h1>"), std::string::npos) << dom.out;
    EXPECT_NE(dom.out.find("<h2>cluster main</h2>"), std::string::npos) << dom.out;
    EXPECT_EQ(BackupIdCells(dom.out), std::vector<std::string>{before}) << dom.out;
    EXPECT_NE(dom.out.find("<svg class=\"timeline\""), std::string::npos);
  }
  EXPECT_TRUE(compared) << "a backup finished during each of 3 page loads";

  std::string png = home.Sub("status-page.png");
  ProcessResult shot =
      RunChromium(chromium, home, {"--screenshot=" + png, "--window-size=1280,900"}, url);
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  std::string image = ReadFile(png);
  // A PNG (signature, then the IHDR chunk: width and height big-endian) of the window's size,
  // and more than a blank page of that size compresses to (about 5 kB).
  ASSERT_GE(image.size(), 24u);
  EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(image.substr(12, 4), "IHDR");
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) v = v << 8 | static_cast<uint8_t>(image[at + i]);
    return v;
  };
  EXPECT_EQ(be32(16), 1280u);
  EXPECT_EQ(be32(20), 900u);
  EXPECT_GT(image.size(), 20000u) << "the screenshot looks blank";
  ReportFigure("status page screenshot (bytes)", std::to_string(image.size()));
  std::filesystem::copy_file(png, "status-page.png",
                             std::filesystem::copy_options::overwrite_existing);

  // Idle: between two backups of the 15 s schedule, the daemon's resident memory and CPU time.
  std::string stat = ReadFile(fmt::format("/proc/{}/status", daemon->pid()));
  std::smatch rss;
  if (std::regex_search(stat, rss, std::regex(R"(VmRSS:\s+(\d+) kB)")))
    ReportFigure("daemon RSS after backups (kB)", rss[1]);
  EXPECT_EQ(daemon->StderrSoFar().find(password), std::string::npos);
  daemon->Signal(SIGTERM);
  ProcessResult exited = daemon->Wait(std::chrono::seconds(300));
  EXPECT_EQ(exited.exit_code, 0) << exited.err;
  EXPECT_NE(exited.err.find("\"auth\":\"basic\""), std::string::npos) << exited.err;
  EXPECT_EQ(exited.err.find(password), std::string::npos);
}

}  // namespace
}  // namespace pgvault::test

// `pgvault check --json` against a real PostgreSQL 15 (issue 12, health checks): every check and
// its verdict on a healthy cluster, the probe object gone afterwards; then checks made critical
// for real (a free-space minimum no file system meets, an archive_command that fails) exit
// non-zero with one line naming the check and its hint; and replication seen from a primary with
// a streaming standby and from the standby.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

std::map<std::string, nlohmann::json> ByName(const nlohmann::json& report) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& c : report["checks"]) out[c["name"].get<std::string>()] = c;
  return out;
}

class HealthCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kPassphrase);
    cluster_ = PgCluster::Create({.archive_command = repo_->ArchiveCommand(), .env = repo_->env()})
                   .release();
    cluster_->Exec("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete repo_;
  }
  ProcessResult Check(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"check", "--pg-host", "127.0.0.1", "--pg-port",
                                     std::to_string(cluster_->port())};
    args.insert(args.end(), extra.begin(), extra.end());
    return repo_->Run(args);
  }
  static TestRepo* repo_;
  static PgCluster* cluster_;
};
TestRepo* HealthCheckTest::repo_ = nullptr;
PgCluster* HealthCheckTest::cluster_ = nullptr;

TEST_F(HealthCheckTest, EveryCheckOfAHealthyClusterIsOkInJson) {
  TempDir spool("spool");
  auto r = Check({"--json", "--spool-path", spool.path(), "--min-free-space", "1MiB"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["verdict"], "ok") << r.out;
  auto checks = ByName(report);
  for (const char* name :
       {"connectivity", "system_identifier", "archive", "replication", "disk_pgdata", "disk_spool",
        "disk_repository", "repository_writable", "clock_skew"}) {
    ASSERT_TRUE(checks.count(name)) << name << " missing in " << r.out;
    EXPECT_EQ(checks[name]["verdict"], "ok") << name << ": " << checks[name].dump();
    EXPECT_FALSE(checks[name].contains("hint")) << checks[name].dump();
  }
  EXPECT_EQ(checks.size(), 9u) << r.out;
  std::string version = cluster_->Scalar("SHOW server_version");  // "15.4 (Debian ...)"
  version = version.substr(0, version.find(' '));
  EXPECT_EQ(checks["connectivity"]["value"].get<std::string>().rfind("PostgreSQL " + version, 0),
            0u)
      << checks["connectivity"].dump();
  std::string system_id = cluster_->Scalar("SELECT system_identifier FROM pg_control_system()");
  EXPECT_EQ(checks["system_identifier"]["value"],
            "system " + system_id + " matches the repository");
  EXPECT_NE(checks["archive"]["value"].get<std::string>().find("reached the repository in"),
            std::string::npos);
  EXPECT_EQ(checks["replication"]["value"], "not a standby, and no standbys");
  EXPECT_NE(checks["disk_pgdata"]["value"].get<std::string>().find("at '" + cluster_->pgdata()),
            std::string::npos)
      << checks["disk_pgdata"].dump();
  EXPECT_NE(checks["disk_spool"]["value"].get<std::string>().find(spool.path()), std::string::npos);
  EXPECT_NE(checks["disk_repository"]["value"].get<std::string>().find(repo_->path()),
            std::string::npos);
  EXPECT_NE(checks["repository_writable"]["value"].get<std::string>().find(
                "probe object written, read back and deleted"),
            std::string::npos);
  EXPECT_NE(checks["clock_skew"]["value"].get<std::string>().find("skipped"), std::string::npos);
  // The archiver's lag is measured (a number, nothing waiting on an idle server).
  EXPECT_TRUE(report["archiver"]["lag_seconds"].is_number());
  EXPECT_EQ(report["archiver"]["failing"], false);
  EXPECT_EQ(report["wal_checked"], true);
  EXPECT_EQ(report["missing_segments"], 0);
  // The probe object is gone, and nothing else is left under probe/.
  std::string probe_dir = repo_->path() + "/probe";
  if (std::filesystem::exists(probe_dir)) {
    EXPECT_TRUE(std::filesystem::is_empty(probe_dir)) << probe_dir;
  }
  // The text form lists the same verdicts.
  auto text = Check({"--min-free-space", "1MiB"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("health: ok\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  ok       repository_writable  probe object written"),
            std::string::npos)
      << text.out;
}

TEST_F(HealthCheckTest, AFreeSpaceMinimumNoFileSystemMeetsIsCritical) {
  auto r = Check({"--json", "--min-free-space", "100%"});
  EXPECT_EQ(r.exit_code, 12) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["verdict"], "critical");
  auto checks = ByName(report);
  EXPECT_EQ(checks["disk_pgdata"]["verdict"], "critical") << checks["disk_pgdata"].dump();
  EXPECT_EQ(checks["disk_repository"]["verdict"], "critical");
  EXPECT_EQ(checks["archive"]["verdict"], "ok");  // the others are still measured
  EXPECT_EQ(r.err.rfind("error: health check 'disk_pgdata' is critical: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("(and 1 more critical checks, listed above)\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nHINT: free space at '" + cluster_->pgdata() +
                       "' is below --min-free-space 100%: free some space or grow the file "
                       "system\n"),
            std::string::npos)
      << r.err;
  // Bad input: one line and a hint, exit 2, before anything is measured.
  auto bad = Check({"--min-free-space", "lots"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err,
            "error: invalid --min-free-space 'lots'\nHINT: give a percentage of the file system "
            "(e.g. 10%) or an amount (512MiB, 20GiB)\n");
}

TEST_F(HealthCheckTest, AFailingArchiveCommandIsCriticalAndRecovers) {
  cluster_->SetArchiveCommand("false");
  auto r = Check({"--json", "--archive-timeout", "3", "--min-free-space", "1MiB"});
  cluster_->SetArchiveCommand(repo_->ArchiveCommand());
  EXPECT_EQ(r.exit_code, 9) << r.out << r.err;
  auto checks = ByName(nlohmann::json::parse(r.out));
  EXPECT_EQ(checks["archive"]["verdict"], "critical") << checks["archive"].dump();
  EXPECT_EQ(checks["repository_writable"]["verdict"], "ok");
  EXPECT_EQ(r.err.rfind("error: health check 'archive' is critical: WAL segment '", 0), 0u)
      << r.err;
  EXPECT_NE(r.err.find("did not reach repository '" + repo_->path() + "' within 3 s"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("\nHINT: check archive_command and the server log"), std::string::npos)
      << r.err;
  // archive_command works again: the next check is healthy (the backlog is archived first).
  cluster_->SwitchWalAndWaitArchived();
  auto again = Check({"--min-free-space", "1MiB"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

// Replication, both ways: a streaming standby (restored with --type standby) is seen by the
// primary's check in pg_stat_replication, and the standby's own check reports its replay lag and
// leaves archiving to the primary.
TEST_F(HealthCheckTest, ReplicationLagOfAPrimaryWithAStandbyAndOfTheStandby) {
  auto backup = repo_->Backup(*cluster_);
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  TempDir dir("standby");
  auto restored = repo_->Run(
      {"restore", "--pgdata", dir.Sub("pgdata"), "--type", "standby", "--primary-conninfo",
       fmt::format("host=127.0.0.1 port={} user=postgres", cluster_->port())});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  auto standby = PgCluster::Adopt(dir.Sub("pgdata"), {.env = repo_->env()});
  // Streaming: the primary lists it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cluster_->Scalar("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") !=
             "1" &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto primary_check = Check({"--json", "--min-free-space", "1MiB"});
  ASSERT_EQ(primary_check.exit_code, 0) << primary_check.out << primary_check.err;
  auto primary_report = nlohmann::json::parse(primary_check.out);
  auto on_primary = ByName(primary_report);
  EXPECT_EQ(on_primary["replication"]["verdict"], "ok");
  EXPECT_EQ(
      on_primary["replication"]["value"].get<std::string>().rfind("1 standbys, the furthest ", 0),
      0u)
      << on_primary["replication"].dump();

  auto on_standby_run = repo_->Run({"check", "--json", "--pg-host", "127.0.0.1", "--pg-port",
                                    std::to_string(standby->port()), "--min-free-space", "1MiB"});
  ASSERT_EQ(on_standby_run.exit_code, 0) << on_standby_run.out << on_standby_run.err;
  auto standby_report = nlohmann::json::parse(on_standby_run.out);
  auto on_standby = ByName(standby_report);
  EXPECT_NE(on_standby["connectivity"]["value"].get<std::string>().find("(standby)"),
            std::string::npos);
  EXPECT_EQ(on_standby["archive"]["verdict"], "ok");
  EXPECT_NE(on_standby["archive"]["value"].get<std::string>().find("its primary archives the WAL"),
            std::string::npos)
      << on_standby["archive"].dump();
  EXPECT_EQ(on_standby["replication"]["verdict"], "ok") << on_standby["replication"].dump();
  EXPECT_EQ(on_standby["replication"]["value"].get<std::string>().rfind("standby: replay ", 0), 0u)
      << on_standby["replication"].dump();
  EXPECT_EQ(on_standby["system_identifier"]["verdict"], "ok");
  EXPECT_EQ(standby_report["switched_segment"], "");
}

}  // namespace
}  // namespace pgvault::test

// Tests of the integration harness itself: scratch directories, processes run as postgres,
// a real PostgreSQL 15 cluster from creation to shutdown, SQL, pgbench and table checksums.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

TEST(HarnessTest, TempDirBelongsToPostgresAndIsRemoved) {
  std::string path;
  {
    TempDir dir("harness");
    path = dir.path();
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(path.starts_with("/tmp/pgvault-it-harness-")) << path;
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ProcessResult touch = RunAsPostgres({"/usr/bin/touch", dir.Sub("written-by-postgres")});
    EXPECT_EQ(touch.exit_code, 0) << touch.err;
    ASSERT_TRUE(fs::exists(dir.Sub("written-by-postgres")));
  }
  const char* keep = std::getenv("PGVAULT_KEEP_TMP");
  if (!keep || std::string(keep) != "1") {
    EXPECT_FALSE(fs::exists(path));
  }
}

TEST(HarnessTest, ChildrenRunAsPostgresWithSecretsInTheEnvironmentOnly) {
  ProcessResult who = RunAsPostgres({"/usr/bin/id", "-un"});
  EXPECT_EQ(who.exit_code, 0);
  EXPECT_EQ(who.out, "postgres\n");

  ProcessResult env = RunAsPostgres({"/usr/bin/env"}, {"PGVAULT_PASSPHRASE=open sesame"});
  EXPECT_NE(env.out.find("PGVAULT_PASSPHRASE=open sesame\n"), std::string::npos) << env.out;
  EXPECT_NE(env.out.find("USER=postgres\n"), std::string::npos) << env.out;

  ProcessResult failing = RunAsPostgres({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(failing.exit_code, 3);
  EXPECT_EQ(failing.out, "out\n");
  EXPECT_EQ(failing.err, "err\n");
}

TEST(HarnessTest, BackgroundProcessCanBeKilled) {
  BackgroundProcess sleeper({"/bin/sh", "-c", "echo started >&2; exec sleep 60"});
  for (int poll_idx = 0; poll_idx < 100 && sleeper.StderrSoFar().empty(); ++poll_idx)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sleeper.StderrSoFar(), "started\n");
  EXPECT_TRUE(sleeper.Running());
  sleeper.Signal(SIGKILL);
  ProcessResult r = sleeper.Wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, -SIGKILL);
  EXPECT_FALSE(sleeper.Running());
}

TEST(HarnessTest, ClusterLivesFromInitdbToShutdown) {
  auto cluster = PgCluster::Create();
  EXPECT_NE(cluster->port(), 5432);
  EXPECT_TRUE(cluster->Running());
  EXPECT_EQ(cluster->Scalar("SELECT current_setting('server_version_num')::int / 10000"), "15");
  EXPECT_EQ(cluster->Scalar("SHOW data_checksums"), "on");
  EXPECT_EQ(cluster->Scalar("SHOW archive_mode"), "off");
  EXPECT_EQ(cluster->Scalar("SHOW unix_socket_directories"), cluster->socket_dir());
  EXPECT_EQ(cluster->Scalar("SHOW fsync"), "on");

  cluster->Exec("CREATE TABLE story(id int PRIMARY KEY, line text)");
  cluster->Exec("INSERT INTO story VALUES (1, 'once'), (2, NULL), (3, 'upon a time')");
  EXPECT_EQ(
      cluster->Query("SELECT id, coalesce(line, '-') FROM story ORDER BY id"),
      (std::vector<std::vector<std::string>>{{"1", "once"}, {"2", "-"}, {"3", "upon a time"}}));

  // Checksums see content, not physical order.
  auto before = TableChecksums(*cluster, {"story"});
  EXPECT_TRUE(before["story"].starts_with("rows=3 md5=")) << before["story"];
  cluster->Exec("UPDATE story SET line = line WHERE id = 1");  // moves the row, same content
  EXPECT_EQ(TableChecksums(*cluster, {"story"}), before);
  cluster->Exec("UPDATE story SET line = 'twice' WHERE id = 1");
  EXPECT_NE(TableChecksums(*cluster, {"story"}), before);

  cluster->RunPgbench({"-i", "-s", "1", "-q"});
  EXPECT_EQ(cluster->Scalar("SELECT count(*) FROM pgbench_accounts"), "100000");
  auto bench = cluster->StartPgbench({"-c", "2", "-T", "60"});
  for (int poll_idx = 0; poll_idx < 200; ++poll_idx) {
    if (cluster->Scalar("SELECT count(*) FROM pgbench_history") != "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(cluster->Scalar("SELECT count(*) FROM pgbench_history"), "0");
  bench->Signal(SIGINT);
  bench->Wait(std::chrono::seconds(30));

  std::string pgdata = cluster->pgdata();
  cluster->Stop();
  EXPECT_FALSE(cluster->Running());
  EXPECT_FALSE(fs::exists(pgdata + "/postmaster.pid")) << "a fast shutdown removes it";
  ProcessResult controldata = RunAsPostgres({std::string(kPgBin) + "/pg_controldata", pgdata});
  EXPECT_NE(controldata.out.find("Database cluster state:               shut down\n"),
            std::string::npos)
      << controldata.out;

  cluster->Start();
  EXPECT_EQ(cluster->Scalar("SELECT line FROM story WHERE id = 1"), "twice");
}

TEST(HarnessTest, AdoptedDataDirectoryGetsItsOwnPortAndArchiving) {
  TempDir copies("adopt");
  std::string copy = copies.Sub("data");
  {
    auto cluster = PgCluster::Create();
    cluster->Exec("CREATE TABLE kept AS SELECT 42 AS answer");
    cluster->Stop();
    CopyTree(cluster->pgdata(), copy);
  }
  auto adopted = PgCluster::Adopt(copy, {.archive_command = "/bin/true %p"});
  EXPECT_EQ(adopted->Scalar("SELECT answer FROM kept"), "42");
  EXPECT_EQ(adopted->Scalar("SHOW archive_mode"), "on");
  EXPECT_EQ(adopted->Scalar("SHOW port"), std::to_string(adopted->port()));
  std::string segment = adopted->SwitchWalAndWaitArchived();
  EXPECT_EQ(segment.size(), 24u) << segment;
}

TEST(HarnessTest, PgvaultBinaryRunsAsPostgres) {
  ProcessResult version = RunPgvault({"version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_TRUE(version.out.starts_with("pgvault ")) << version.out;
}

}  // namespace
}  // namespace pgvault::test

// kill -9 of a running backup against a real PostgreSQL 15: the repository stays valid (no half
// backup is listed), the server forgets the backup session, and the next backup and its restore
// work.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

TEST(CrashTest, KilledBackupLeavesAValidRepositoryAndTheNextBackupRestores) {
  // Small packs, so that the killed backup has already stored some when it dies.
  TestRepo repo(RepoCipher::kPassphrase, {"--pack-size", "1"});
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "10", "-q"});
  source->SwitchWalAndWaitArchived();

  auto backup = StartPgvault(
      {"--repo", repo.path(), "--log-level", "info", "backup", "--pgdata", source->pgdata(),
       "--pg-host", "127.0.0.1", "--pg-port", std::to_string(source->port()), "--jobs", "1"},
      repo.env());
  // Mid-way: the server is in backup mode and the first packs are in the repository.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (backup->Running() && std::chrono::steady_clock::now() < deadline &&
         (backup->StderrSoFar().find(" started at ") == std::string::npos ||
          FilesUnder(repo.path(), "packs/").empty()))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  size_t packs_at_kill = FilesUnder(repo.path(), "packs/").size();
  backup->Signal(SIGKILL);
  ProcessResult killed = backup->Wait();
  ASSERT_EQ(killed.exit_code, -SIGKILL)
      << "the backup ended before it could be killed: " << killed.out << killed.err;
  EXPECT_NE(killed.err.find(" started at "), std::string::npos)
      << "killed before pg_backup_start: " << killed.err;
  ReportFigure("packs stored when the backup was killed", std::to_string(packs_at_kill));
  EXPECT_GT(packs_at_kill, 0u);

  // The repository is valid and lists no backup; the server ended the backup's session.
  nlohmann::json info = repo.Info();
  EXPECT_EQ(info["backups"].size(), 0u) << info.dump(2);
  source->WaitForNoOtherSessions(std::chrono::seconds(30));
  EXPECT_EQ(
      source->Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgvault'"),
      "0");

  // The next backup works, and restores to exactly the source.
  source->Exec("UPDATE pgbench_branches SET bbalance = 7 WHERE bid = 1");
  ProcessResult next = repo.Backup(*source);
  ASSERT_EQ(next.exit_code, 0) << next.err;
  std::string backup_id = BackupIdFromSummary(next.out);
  ReportFigure("backup after the kill", LastLine(next.out));
  info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 1u);
  EXPECT_EQ(info["backups"][0]["id"], backup_id);
  source->SwitchWalAndWaitArchived();
  auto expected = TableChecksums(*source, kPgbenchTables);

  TempDir target("crash-restore");
  ProcessResult restore = repo.Run({"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = repo.env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kPgbenchTables), expected);
  EXPECT_EQ(restored->Scalar("SELECT bbalance FROM pgbench_branches WHERE bid = 1"), "7");
}

}  // namespace
}  // namespace pgvault::test

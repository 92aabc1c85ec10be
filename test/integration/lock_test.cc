// Backup locks against a real PostgreSQL 15 (issue 16): two backups started in the same second
// both succeed with distinct ids and leave no lock behind; the lock of a kill -9'd backup does not
// block expire, which names the dead owner and removes the lock. Run on a local repository and on
// one in a bucket of the test Ceph RADOS Gateway (suites Posix/LockTest and S3/LockTest).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "pg_cluster.h"
#include "s3_gateway.h"

namespace pgvault::test {
namespace {

std::vector<std::string> BackupArgs(const TestRepo& repo, const PgCluster& cluster) {
  std::vector<std::string> args = repo.Flags();
  for (const std::string& arg :
       {std::string("backup"), std::string("--pgdata"), cluster.pgdata(), std::string("--pg-host"),
        std::string("127.0.0.1"), std::string("--pg-port"), std::to_string(cluster.port()),
        std::string("--jobs"), std::string("1")})
    args.push_back(arg);
  return args;
}

// Sleeps until 300 ms past the next whole second, so that two processes started right after
// both pick their backup id within that same second.
void SleepToStartOfSecond() {
  auto now = std::chrono::system_clock::now();
  auto next = std::chrono::ceil<std::chrono::seconds>(now) + std::chrono::milliseconds(300);
  std::this_thread::sleep_until(next);
}

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

class LockTest : public RepoStoreTest {};

TEST_P(LockTest, TwoBackupsStartedInTheSameSecondBothSucceedWithDistinctIds) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kPassphrase);
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->SwitchWalAndWaitArchived();

  SleepToStartOfSecond();
  auto first = StartPgvault(BackupArgs(repo, *source), repo.env());
  auto second = StartPgvault(BackupArgs(repo, *source), repo.env());
  ProcessResult first_result = first->Wait();
  ProcessResult second_result = second->Wait();
  ASSERT_EQ(first_result.exit_code, 0) << first_result.err;
  ASSERT_EQ(second_result.exit_code, 0) << second_result.err;
  std::string first_id = BackupIdFromSummary(first_result.out);
  std::string second_id = BackupIdFromSummary(second_result.out);
  ReportFigure("backup ids", first_id + " " + second_id);
  EXPECT_NE(first_id, second_id);

  nlohmann::json info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 2u) << info.dump(2);
  // Each released only its own lock, and both are gone.
  EXPECT_EQ(repo.Objects("locks/"), (std::map<std::string, uint64_t>{}));
  ProcessResult expire = repo.Run({"expire", "--backup", first_id, "--gc-grace", "0"});
  EXPECT_EQ(expire.exit_code, 0) << expire.err;
}

TEST_P(LockTest, LockOfAKilledBackupDoesNotBlockExpire) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kPassphrase);
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "5", "-q"});
  source->SwitchWalAndWaitArchived();
  ProcessResult first = repo.Backup(*source);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string first_id = BackupIdFromSummary(first.out);

  std::vector<std::string> args = repo.Flags();
  args.insert(args.end(),
              {"--log-level", "info", "backup", "--pgdata", source->pgdata(), "--pg-host",
               "127.0.0.1", "--pg-port", std::to_string(source->port()), "--jobs", "1"});
  auto killed = StartPgvault(args, repo.env());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (killed->Running() && std::chrono::steady_clock::now() < deadline &&
         killed->StderrSoFar().find(" started at ") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pid_t killed_pid = killed->pid();
  killed->Signal(SIGKILL);
  ProcessResult killed_result = killed->Wait();
  ASSERT_EQ(killed_result.exit_code, -SIGKILL)
      << "the backup ended before it could be killed: " << killed_result.err;
  ASSERT_EQ(repo.Objects("locks/").size(), 1u);

  ProcessResult expire = repo.Run({"expire", "--backup", first_id, "--gc-grace", "0"});
  ASSERT_EQ(expire.exit_code, 0) << expire.err;
  ReportFigure("expire with a stale lock", expire.err);
  EXPECT_NE(expire.err.find(fmt::format("WARN: removed the stale lock of backup '")),
            std::string::npos)
      << expire.err;
  EXPECT_NE(
      expire.err.find(fmt::format("' (pid {} on host '{}', started ", killed_pid, HostName())),
      std::string::npos)
      << expire.err;
  EXPECT_NE(expire.err.find("): the process is no longer running"), std::string::npos)
      << expire.err;
  EXPECT_NE(expire.out.find("expired backup " + first_id), std::string::npos) << expire.out;
  EXPECT_EQ(repo.Objects("locks/"), (std::map<std::string, uint64_t>{}));
}

INSTANTIATE_REPO_STORES(LockTest);

}  // namespace
}  // namespace pgvault::test

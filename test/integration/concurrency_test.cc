// Concurrency (issue 14) against a real PostgreSQL 15 under pgbench load, on one local
// repository: two full-scan backups at once both complete and both restore to the source's data;
// a backup while expire and gc run finishes, loses nothing it references (verify passes, its
// restore equals the data), and a refused expire says in one line which backup holds the lock;
// two archive-push of the same segment at once (20 times), and the async pusher with a sync
// archive-push of the same segment (20 times), both succeed and leave one whole object; repo-sync
// during a backup copies whole backups only, so the replica verifies throughout. Stale locks of
// kill -9'd processes are LockTest's and GcTest's.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConcurrencyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kKeyFile, {"--pack-size", "4"});
    source_ = PgCluster::Create({.archive_command = repo_->ArchiveCommand()}).release();
    source_->RunPgbench({"-i", "-s", "3", "-q"});
    source_->SwitchWalAndWaitArchived();
  }
  static void TearDownTestSuite() {
    delete source_;
    delete repo_;
  }

  // A backup reading every file, one worker, logging when it has its lock and its start.
  static std::unique_ptr<BackgroundProcess> StartBackup() {
    std::vector<std::string> args = repo_->Flags();
    args.insert(args.end(), {"--log-level", "info", "backup", "--pgdata", source_->pgdata(),
                             "--pg-host", "127.0.0.1", "--pg-port", std::to_string(source_->port()),
                             "--jobs", "1", "--full-scan"});
    return StartPgvault(args, repo_->env());
  }
  // Stops writers and archives everything: the source's data is what the archive ends with.
  static std::map<std::string, std::string> QuietData() {
    source_->WaitForNoOtherSessions();
    source_->SwitchWalAndWaitArchived();
    return TableChecksums(*source_, kPgbenchTables);
  }
  // Restores backup_id to the end of the archive and returns its tables' checksums.
  static std::map<std::string, std::string> RestoredData(const std::string& backup_id) {
    TempDir dir("restored");
    ProcessResult r = repo_->Run({"restore", "--pgdata", dir.Sub("pgdata"), "--backup", backup_id});
    if (r.exit_code != 0) throw HarnessError("restore of " + backup_id + " failed: " + r.err);
    auto restored = PgCluster::Adopt(dir.Sub("pgdata"));
    restored->WaitForRecoveryEnd();
    auto sums = TableChecksums(*restored, kPgbenchTables);
    restored->Stop();
    return sums;
  }

  static TestRepo* repo_;
  static PgCluster* source_;
};
TestRepo* ConcurrencyTest::repo_ = nullptr;
PgCluster* ConcurrencyTest::source_ = nullptr;

TEST_F(ConcurrencyTest, TwoFullBackupsAtOnceUnderLoadBothCompleteAndRestore) {
  auto bench = source_->StartPgbench({"-c", "2", "-T", "600", "-n"});
  auto first = StartBackup();
  while (first->Running() && first->StderrSoFar().find(" started at ") == std::string::npos)
    std::this_thread::sleep_for(5ms);
  auto second = StartBackup();
  bool overlapped = first->Running();
  ProcessResult first_result = first->Wait();
  ProcessResult second_result = second->Wait();
  bench->Signal(SIGTERM);
  bench->Wait();
  ReportFigure("second backup started while the first ran", overlapped ? "yes" : "no");
  ASSERT_EQ(first_result.exit_code, 0) << first_result.err;
  ASSERT_EQ(second_result.exit_code, 0) << second_result.err;
  std::string first_id = BackupIdFromSummary(first_result.out);
  std::string second_id = BackupIdFromSummary(second_result.out);
  EXPECT_NE(first_id, second_id);
  EXPECT_EQ(repo_->Objects("locks/"), (std::map<std::string, uint64_t>{}));

  auto data = QuietData();
  EXPECT_EQ(RestoredData(first_id), data);
  EXPECT_EQ(RestoredData(second_id), data);
}

TEST_F(ConcurrencyTest, BackupWhileExpireAndGcRunLosesNothing) {
  ProcessResult parent = repo_->Backup(*source_);
  ASSERT_EQ(parent.exit_code, 0) << parent.err;
  std::string parent_id = BackupIdFromSummary(parent.out);
  auto data = QuietData();

  // The newest backup is the running one's parent: expire removes it while it may be read.
  auto backup = StartBackup();
  std::vector<std::string> expire_args = repo_->Flags();
  expire_args.insert(expire_args.end(), {"expire", "--backup", parent_id, "--gc-grace", "0"});
  auto expire = StartPgvault(expire_args, repo_->env());
  size_t gc_runs = 0, gc_held_back = 0;
  while (backup->Running()) {
    ProcessResult gc = repo_->Run({"gc", "--gc-grace", "0"});
    ++gc_runs;
    // gc and expire exclude each other: one may find the other's lock.
    if (gc.exit_code == kExitConflict) {
      std::vector<std::string> lines = ErrorLines(gc.err);
      ASSERT_GE(lines.size(), 1u) << gc.err;
      EXPECT_NE(lines[0].find("gc or expire is running (pid "), std::string::npos) << gc.err;
      continue;
    }
    ASSERT_EQ(gc.exit_code, 0) << gc.err;
    gc_held_back += gc.out.find("no pack deleted while backup ") != std::string::npos;
  }
  ProcessResult backup_result = backup->Wait();
  ProcessResult expire_result = expire->Wait();
  ReportFigure("gc runs during the backup",
               fmt::format("{} ({} held back by it)", gc_runs, gc_held_back));
  ReportFigure("expire beside the backup", expire_result.exit_code == 0 ? "expired" : "refused");
  ASSERT_EQ(backup_result.exit_code, 0) << backup_result.err;
  std::string id = BackupIdFromSummary(backup_result.out);
  if (expire_result.exit_code != 0) {
    EXPECT_EQ(expire_result.exit_code, kExitConflict) << expire_result.err;
    std::vector<std::string> lines = ErrorLines(expire_result.err);
    ASSERT_GE(lines.size(), 1u) << expire_result.err;
    // Refused by the backup's lock, naming it, or by a gc's.
    bool by_backup = lines[0].find("is running (pid " + std::to_string(backup->pid()) +
                                   " on host '") != std::string::npos;
    bool by_gc = lines[0].find("gc or expire is running (pid ") != std::string::npos;
    EXPECT_TRUE(by_backup || by_gc) << expire_result.err;
  }
  ProcessResult gc = repo_->Run({"gc", "--gc-grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  ProcessResult verify = repo_->Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(RestoredData(id), data);
}

// archive-push of one segment twice at once, `rounds` times, each into a new repository;
// `async` runs the first through the spool (its pusher is a forked background process). Both
// succeed; the repository holds the one whole segment and no temp file.
void PushTwiceAtOnce(const std::string& key_file, const std::string& segment, bool async,
                     int rounds) {
  std::string name = fs::path(segment).filename();
  std::string original = ReadFile(segment);
  for (int round_idx = 0; round_idx < rounds; ++round_idx) {
    SCOPED_TRACE(fmt::format("round {}", round_idx));
    TempDir dir("push-race");
    std::string repo = dir.Sub("repo");
    ASSERT_EQ(RunPgvault({"--repo", repo, "--key-file", key_file, "repo-create"}).exit_code, 0);
    std::vector<std::string> sync = {"--repo", repo,           "--key-file",
                                     key_file, "archive-push", segment};
    std::vector<std::string> first = sync;
    if (async)
      first.insert(first.begin() + 4,
                   {"--archive-async", "--spool-path", dir.Sub("spool"), "--jobs", "2"});
    auto one = StartPgvault(first);
    auto two = StartPgvault(sync);
    ProcessResult one_result = one->Wait(), two_result = two->Wait();
    EXPECT_EQ(one_result.exit_code, 0) << one_result.err;
    EXPECT_EQ(two_result.exit_code, 0) << two_result.err;
    std::vector<std::string> files = FilesUnder(repo, "wal/");
    EXPECT_EQ(files, std::vector<std::string>{"wal/00000001/" + name});
    std::string fetched = dir.Sub("fetched");
    ProcessResult get =
        RunPgvault({"--repo", repo, "--key-file", key_file, "archive-get", name, fetched});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_TRUE(ReadFile(fetched) == original) << "the archived segment differs";
  }
}

TEST_F(ConcurrencyTest, ArchivePushOfOneSegmentTwiceAtOnce) {
  std::string name = source_->SwitchWalAndWaitArchived();
  TempDir wal("wal");
  std::string pg_wal = wal.Sub("pg_wal");
  RunAsPostgres({"mkdir", "-p", pg_wal + "/archive_status"});
  ProcessResult get = repo_->Run({"archive-get", name, pg_wal + "/" + name});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  // As PostgreSQL leaves it for archive_command: the async pusher reads ahead by these.
  WriteFile(pg_wal + "/archive_status/" + name + ".ready", "");
  auto t0 = std::chrono::steady_clock::now();
  PushTwiceAtOnce(repo_->key_file(), pg_wal + "/" + name, /*async=*/false, 20);
  auto t1 = std::chrono::steady_clock::now();
  PushTwiceAtOnce(repo_->key_file(), pg_wal + "/" + name, /*async=*/true, 20);
  ReportFigure(
      "20 rounds sync+sync, 20 rounds async+sync (s)",
      fmt::format("{:.1f}, {:.1f}", std::chrono::duration<double>(t1 - t0).count(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count()));
}

TEST_F(ConcurrencyTest, RepoSyncDuringABackupCopiesWholeBackupsOnly) {
  TempDir dir("replica");
  std::string replica = dir.Sub("replica");
  std::vector<std::string> sync = {
      "--repo",    repo_->path(), "--repo2", replica, "--key-file", repo_->key_file(),
      "repo-sync", "--from",      "1",       "--to",  "2"};
  std::vector<std::string> at_replica = {"--repo", replica, "--key-file", repo_->key_file()};
  auto on_replica = [&](std::vector<std::string> args) {
    args.insert(args.begin(), at_replica.begin(), at_replica.end());
    return RunPgvault(args);
  };
  ProcessResult first = RunPgvault(sync);
  ASSERT_EQ(first.exit_code, 0) << first.err;

  auto backup = StartBackup();
  size_t syncs = 0;
  while (backup->Running()) {
    ProcessResult r = RunPgvault(sync);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ++syncs;
  }
  ProcessResult backup_result = backup->Wait();
  ASSERT_EQ(backup_result.exit_code, 0) << backup_result.err;
  std::string id = BackupIdFromSummary(backup_result.out);
  ReportFigure("repo-sync runs during the backup", std::to_string(syncs));

  // The replica as the syncs left it (the last may have ended after the backup): the backup is
  // listed, or none of its manifest objects is there; every backup listed verifies.
  ProcessResult info = on_replica({"info", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  bool copied = info.out.find("\"" + id + "\"") != std::string::npos;
  ReportFigure("the backup was in the replica when it ended", copied ? "yes" : "no");
  if (!copied) {
    EXPECT_EQ(FilesUnder(replica, "backups/" + id), std::vector<std::string>{});
  }
  ProcessResult verify = on_replica({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  ProcessResult last = RunPgvault(sync);
  ASSERT_EQ(last.exit_code, 0) << last.err;
  verify = on_replica({"verify", "--backup", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace pgvault::test

// WAL that is not what its name says, or that cannot be read, must never pass as good (issue 16):
// archive-push refuses a segment under another segment's name, verify reports one that is in
// the repository, archive-get exits 1 ("not archived") only when the repository lacks the file,
// and restore refuses a backup whose own WAL is damaged.
//
// One small source cluster (pgbench scale 1) archiving into one encrypted repository with one
// backup serves the suite; tests that damage the repository damage a copy.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "repo/repository.h"
#include "repo/wal_store.h"
#include "storage/storage.h"
#include "suite_source.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

void ChownToPostgres(const std::string& path) {
  passwd* pw = ::getpwnam("postgres");
  if (!pw || ::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw HarnessError("cannot chown " + path);
}

class WalIntegrityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kPassphrase);
    source_ = NewArchivingSource(*repo_);
    SuiteBackup(*repo_, *source_);
    source_->SwitchWalAndWaitArchived();
    // The segment the backup starts in (named by its .backup history file).
    for (const auto& f : FilesUnder(repo_->path(), "wal/00000001/"))
      if (f.ends_with(".backup"))
        start_segment_ = f.substr(std::string("wal/00000001/").size(), 24);
    if (start_segment_.size() != 24) throw HarnessError("no .backup file in the repository");
  }

  static void TearDownTestSuite() {
    delete source_;
    delete repo_;
  }

  // Fetches an archived segment into dir under the name `as`.
  static std::string Fetch(const TempDir& dir, const std::string& segment, const std::string& as) {
    std::string path = dir.Sub(as);
    ProcessResult get = repo_->Run({"archive-get", segment, path});
    if (get.exit_code != 0) throw HarnessError("archive-get failed: " + get.err);
    return path;
  }

  static TestRepo* repo_;
  static PgCluster* source_;
  static std::string start_segment_;
};

TestRepo* WalIntegrityTest::repo_ = nullptr;
PgCluster* WalIntegrityTest::source_ = nullptr;
std::string WalIntegrityTest::start_segment_;

// Segment `segment` of timeline 1 renamed to the segment 0x40 later.
std::string LaterName(const std::string& segment) {
  uint64_t low = std::stoull(segment.substr(16), nullptr, 16);
  return segment.substr(0, 16) + fmt::format("{:08X}", (low + 0x40) % 0x100);
}

std::string StartLsnText(const std::string& segment) {
  uint64_t high = std::stoull(segment.substr(8, 8), nullptr, 16);
  uint64_t low = std::stoull(segment.substr(16), nullptr, 16);
  return fmt::format("{:X}/{:X}", high, low << 24);
}

TEST_F(WalIntegrityTest, ArchivePushRefusesASegmentUnderAnotherName) {
  auto repo_before = TreeSnapshot(repo_->path());
  TempDir inputs("misnamed");
  std::string wrong_name = LaterName(start_segment_);
  std::string copy = Fetch(inputs, start_segment_, wrong_name);

  std::string expected = fmt::format(
      "error: '{}' is not WAL segment '{}': its first page address is {} (segment '{}'), "
      "expected {}\nHINT: ",
      copy, wrong_name, StartLsnText(start_segment_), start_segment_, StartLsnText(wrong_name));
  ProcessResult r = repo_->Run({"archive-push", copy});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument) << r.err;
  EXPECT_TRUE(r.err.starts_with(expected)) << r.err;
  EXPECT_EQ(TreeSnapshot(repo_->path()), repo_before) << "nothing may be stored";

  // The asynchronous pusher refuses it the same way (a wal directory with a .ready file).
  TempDir wal_dir("misnamed-async");
  fs::create_directory(wal_dir.Sub("archive_status"));
  ChownToPostgres(wal_dir.Sub("archive_status"));
  std::string queued = wal_dir.Sub(wrong_name);
  fs::copy_file(copy, queued);
  ChownToPostgres(queued);
  WriteFile(wal_dir.Sub("archive_status/" + wrong_name + ".ready"), "");
  TempDir spool("spool");
  ProcessResult async = repo_->Run({"archive-push", "--archive-async", "--spool-path", spool.path(),
                                    "--archive-timeout", "60", queued});
  EXPECT_EQ(async.exit_code, kExitUnavailable) << async.err;
  EXPECT_NE(async.err.find(fmt::format("is not WAL segment '{}': its first page address is {}",
                                       wrong_name, StartLsnText(start_segment_))),
            std::string::npos)
      << async.err;
  EXPECT_EQ(TreeSnapshot(repo_->path()), repo_before) << "nothing may be stored";
  // Let the pusher see nothing ready and exit before its spool goes away.
  fs::remove(wal_dir.Sub("archive_status/" + wrong_name + ".ready"));
  std::this_thread::sleep_for(std::chrono::seconds(3));

  // The file under its own name passes the same checks, and live archiving still works.
  std::string right = Fetch(inputs, start_segment_, start_segment_);
  ProcessResult same = repo_->Run({"archive-push", right});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  source_->SwitchWalAndWaitArchived();
}

TEST_F(WalIntegrityTest, VerifyReportsAWalObjectThatIsAnotherSegment) {
  TempDir scratch("verifywal");
  std::string damaged = scratch.Sub("repo");
  CopyTree(repo_->path(), damaged);
  std::string content = ReadFile(Fetch(scratch, start_segment_, start_segment_));
  // What an older pgvault stored when a segment was pushed under another name: the object's
  // name is authenticated, its content is another segment.
  std::string wrong_name = LaterName(start_segment_);
  {
    auto storage = storage::OpenStorage(damaged, {});
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    auto repo = repo::Repository::Open(std::move(*storage), {.passphrase = kTestPassphrase});
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto pushed = repo::PushWal(**repo, wrong_name, AsBytes(content));
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  }
  std::string object = damaged + "/wal/00000001/" + wrong_name;
  ChownToPostgres(object);
  // A stored object renamed to another segment: its authenticated name no longer matches.
  std::string renamed = LaterName(wrong_name);
  fs::copy_file(damaged + "/wal/00000001/" + start_segment_, damaged + "/wal/00000001/" + renamed);
  ChownToPostgres(damaged + "/wal/00000001/" + renamed);

  ProcessResult r = RunPgvault({"--repo", damaged, "verify"}, repo_->env());
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("'{}': WAL object 'wal/00000001/{}' is not WAL segment '{}': "
                                   "its first page address is {} (segment '{}'), expected {}",
                                   wrong_name, wrong_name, wrong_name, StartLsnText(start_segment_),
                                   start_segment_, StartLsnText(wrong_name))),
            std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find(fmt::format("'{}': WAL object 'wal/00000001/{}' is damaged", renamed, renamed)),
      std::string::npos)
      << r.out;
}

TEST_F(WalIntegrityTest, ArchiveGetFailingLocallyStopsRecoveryInsteadOfEndingIt) {
  TempDir scratch("archiveget");
  std::string dest = scratch.Sub("no-such-dir/RECOVERYXLOG");
  ProcessResult r = repo_->Run({"archive-get", start_segment_, dest});
  EXPECT_EQ(r.exit_code, kExitStopRecovery) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(ErrorText(r.err).starts_with(
      fmt::format("error: cannot create '{}.pgvault-tmp': No such file or directory\n", dest)))
      << r.err;

  // Only a file the repository lacks exits 1, quietly.
  ProcessResult missing =
      repo_->Run({"archive-get", "0000000100000000000000EE", scratch.Sub("RECOVERYXLOG")});
  EXPECT_EQ(missing.exit_code, kExitNotFound);
  EXPECT_EQ(missing.err, "");
  EXPECT_FALSE(fs::exists(scratch.Sub("RECOVERYXLOG")));
}

TEST_F(WalIntegrityTest, RestoreRefusesABackupWhoseOwnWalIsDamaged) {
  TempDir scratch("restorewal");
  std::string damaged = scratch.Sub("repo");
  CopyTree(repo_->path(), damaged);
  std::string object = damaged + "/wal/00000001/" + start_segment_;
  FlipByte(object, fs::file_size(object) / 2);

  std::string pgdata = scratch.Sub("pgdata");
  ProcessResult r = RunPgvault({"--repo", damaged, "restore", "--pgdata", pgdata}, repo_->env());
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.err;
  EXPECT_TRUE(ErrorText(r.err).starts_with(
      fmt::format("error: WAL segment '{}' needed to make the backup consistent cannot be read: "
                  "WAL object 'wal/00000001/{}' is damaged",
                  start_segment_, start_segment_)))
      << r.err;
  EXPECT_NE(r.err.find("HINT: "), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(pgdata)) << "nothing may be written";

  // The undamaged repository restores.
  std::string good = scratch.Sub("good");
  ProcessResult ok = repo_->Run({"restore", "--pgdata", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(fs::exists(good + "/global/pg_control"));
}

}  // namespace
}  // namespace pgvault::test

// A real full disk (issue 14, "Storage faults"): the repository on a small tmpfs while a real
// PostgreSQL 15 archives into it and backs up into it. When the file system fills up,
// archive-push and backup fail with a non-zero exit naming the full file system (so PostgreSQL
// keeps the segment and retries), nothing is acknowledged that is not stored, no partial file is
// left, the older backup still verifies and restores exactly; once space is back, archiving
// catches up without a gap and the next backup restores to the source's data.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "exit_codes.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_point_ = work_.Sub("tmpfs");
    fs::create_directory(mount_point_);
    const passwd* pg = ::getpwnam("postgres");
    ASSERT_NE(pg, nullptr);
    std::string data = fmt::format("size=12m,mode=0700,uid={},gid={}", pg->pw_uid, pg->pw_gid);
    if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, data.c_str()) != 0) {
      // Only a container without CAP_SYS_ADMIN lands here; say so loudly rather than pass.
      GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno)
                   << "): the full-disk test needs root with CAP_SYS_ADMIN";
    }
    mounted_ = true;
  }
  void TearDown() override {
    source_.reset();  // its archive_command writes into the mount
    if (mounted_) ::umount2(mount_point_.c_str(), MNT_DETACH);
  }
  void Resize(const std::string& size) {
    std::string data = "size=" + size;
    ASSERT_EQ(::mount("tmpfs", mount_point_.c_str(), "tmpfs", MS_REMOUNT, data.c_str()), 0)
        << std::strerror(errno);
  }
  ProcessResult Vault(std::vector<std::string> args) {
    args.insert(args.begin(), {"--repo", repo_, "--key-file", keys_.key_file()});
    return RunPgvault(args);
  }
  ProcessResult Backup() {
    return Vault({"backup", "--pgdata", source_->pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
                  std::to_string(source_->port())});
  }
  std::vector<std::string> PartialWrites() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(repo_))
      if (e.path().filename().string().starts_with(".pgvault-tmp.")) out.push_back(e.path());
    return out;
  }
  // A restore of `id` (to the end of the archive) equals `expected`.
  void ExpectRestores(const std::string& id, const std::map<std::string, std::string>& expected,
                      const std::vector<std::string>& tables) {
    TempDir target("full-disk-restore");
    ProcessResult r = Vault({"restore", "--backup", id, "--pgdata", target.Sub("pgdata")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto restored = PgCluster::Adopt(target.Sub("pgdata"));
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, tables), expected);
  }

  TempDir work_{"full-disk"};
  TestRepo keys_{RepoCipher::kKeyFile};  // made on the ordinary disk, then copied onto the tmpfs
  std::string mount_point_, repo_;
  bool mounted_ = false;
  std::unique_ptr<PgCluster> source_;
};

TEST_F(FullDiskTest, ArchivePushAndBackupFailCleanlyAndOlderBackupsRestore) {
  repo_ = mount_point_ + "/repo";
  CopyTree(keys_.path(), repo_);
  source_ = PgCluster::Create({.archive_command = ArchivePushCommand(repo_, keys_.key_file())});
  source_->RunPgbench({"-i", "-s", "1", "-q"});
  source_->SwitchWalAndWaitArchived();
  ProcessResult first = Backup();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string first_id = BackupIdFromSummary(first.out);
  source_->SwitchWalAndWaitArchived();
  auto at_first = TableChecksums(*source_, kPgbenchTables);

  // ~24 MB of random bytes (no compression helps): more WAL than the tmpfs has room for.
  source_->Exec(
      "CREATE TABLE filler AS SELECT g, (SELECT string_agg(decode(md5(random()::text || g || h), "
      "'hex'), ''::bytea) FROM generate_series(1, 64) h) AS b FROM generate_series(1, 24000) g");
  source_->Exec("SELECT pg_switch_wal()");
  std::string failed;
  for (int tries = 0; tries < 600 && failed.empty(); ++tries) {
    failed = source_->Scalar("SELECT coalesce(last_failed_wal, '') FROM pg_stat_archiver");
    if (failed.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(failed.empty()) << "archiving never failed: the tmpfs did not fill up";
  ReportFigure("full disk: archive_command failed first on", failed);

  // archive-push of that segment by hand: the exit code PostgreSQL retries on, a message that
  // names the full file system, nothing stored, no partial file left.
  ProcessResult push = Vault({"archive-push", source_->pgdata() + "/pg_wal/" + failed});
  EXPECT_EQ(push.exit_code, kExitIo) << push.err;
  EXPECT_NE(push.err.find("No space left on device"), std::string::npos) << push.err;
  EXPECT_NE(push.err.find("free space"), std::string::npos) << push.err;
  std::string got = work_.Sub("got");
  EXPECT_EQ(Vault({"archive-get", failed, got}).exit_code, kExitNotFound);
  EXPECT_TRUE(PartialWrites().empty());

  // A backup fails the same way and lists nothing; the older backup verifies and restores.
  ProcessResult second = Backup();
  EXPECT_EQ(second.exit_code, kExitIo) << second.err;
  EXPECT_NE(second.err.find("No space left on device"), std::string::npos) << second.err;
  EXPECT_TRUE(PartialWrites().empty());
  nlohmann::json info = nlohmann::json::parse(Vault({"info", "--json"}).out);
  ASSERT_EQ(info["backups"].size(), 1u) << info.dump();
  EXPECT_EQ(info["backups"][0]["id"], first_id);
  ProcessResult verified = Vault({"verify", "--backup", first_id});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  // The archive ends before the filler's commit: the pgbench tables as at the first backup.
  ExpectRestores(first_id, at_first, kPgbenchTables);

  // Space comes back: PostgreSQL's retries catch up (no segment lost, the archive verifies
  // whole), and the next backup restores to the source's data, filler included.
  Resize("256m");
  source_->SwitchWalAndWaitArchived(180s);
  ProcessResult third = Backup();
  ASSERT_EQ(third.exit_code, 0) << third.err;
  source_->SwitchWalAndWaitArchived();
  ProcessResult all = Vault({"verify"});
  EXPECT_EQ(all.exit_code, 0) << all.out << all.err;
  std::vector<std::string> with_filler = kPgbenchTables;
  with_filler.push_back("filler");
  ExpectRestores(BackupIdFromSummary(third.out), TableChecksums(*source_, with_filler),
                 with_filler);
  // The first backup also recovers through the whole archive, gap-free.
  ExpectRestores(first_id, TableChecksums(*source_, with_filler), with_filler);
}

}  // namespace
}  // namespace pgvault::test

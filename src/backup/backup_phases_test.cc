// The phases of RunBackup that need no server, called directly: the checks on what ProbeServer
// found, and the choice of the parent backup.
#include "backup/backup_phases.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "repo/layout.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::backup {
namespace {

class BackupPhasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::RepoParams params{.encrypted = false, .block_size = 4096};
    ASSERT_TRUE(repo::Repository::Create(mem_, params, {}).ok());
    auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(mem_), {});
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo).value();
  }

  void WriteBackup(const std::string& id) {
    repo::ManifestWriter manifest(repo_->storage(), repo_->codec(), id);
    Status s = manifest.Finish(
        repo::ManifestHeader{.backup_id = id, .wal_segment_size = 16 << 20, .block_size = 4096});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // A server ChooseServer accepts for a data directory of "/" (resolved: itself).
  static pg::ServerInfo GoodServer() {
    return pg::ServerInfo{.version = 150004,
                          .data_directory = "/",
                          .archive_mode = "on",
                          .archive_command = "pgvault archive-push %p",
                          .system_identifier = "7300000000000000001",
                          .system_id = 7300000000000000001ull,
                          .wal_segment_size = 16 << 20};
  }

  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
  pg::ConnOptions conn_{.host = "127.0.0.1", .port = 5499};
};

TEST_F(BackupPhasesTest, TheParentIsTheNewestIntactBackupOlderThanThisOne) {
  WriteBackup("20250101-000001F");
  WriteBackup("20250101-000002F");
  WriteBackup("20250101-000004F");  // a backup alongside that finished first: not a parent
  // The newest older one is damaged: passed over.
  Bytes* damaged = mem_.Mutable(repo::ManifestKey("20250101-000002F"));
  ASSERT_NE(damaged, nullptr);
  damaged->assign({'{', 'x'});
  auto parent = ChooseParent(*repo_, "20250101-000003F");
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  EXPECT_EQ(parent->id, "20250101-000001F");
  ASSERT_NE(parent->manifest, nullptr);
  EXPECT_EQ(parent->manifest->header().backup_id, "20250101-000001F");
}

TEST_F(BackupPhasesTest, TheFirstBackupHasNoParent) {
  auto parent = ChooseParent(*repo_, "20250101-000001F");
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  EXPECT_EQ(parent->id, "");
  EXPECT_EQ(parent->manifest, nullptr);
}

TEST_F(BackupPhasesTest, CheckServerAcceptsAPrimaryThatArchivesAndRecordsItsCluster) {
  Status s = CheckServer(*repo_, GoodServer(), "/", conn_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // The repository now serves that cluster: another one is refused.
  pg::ServerInfo other = GoodServer();
  other.system_id += 1;
  other.system_identifier = std::to_string(other.system_id);
  EXPECT_EQ(CheckServer(*repo_, other, "/", conn_).code(), Code::kConflict);
}

TEST_F(BackupPhasesTest, CheckServerRefusesWhatBackupCannotUse) {
  pg::ServerInfo old = GoodServer();
  old.version = 140010;
  EXPECT_EQ(CheckServer(*repo_, old, "/", conn_).ToString(),
            Status::Pg("PostgreSQL 140010 is not supported; pgvault needs 15 or later").ToString());

  Status elsewhere = CheckServer(*repo_, GoodServer(), "/tmp", conn_);
  EXPECT_EQ(elsewhere.code(), Code::kInvalidArgument);
  EXPECT_EQ(
      elsewhere.message(),
      fmt::format("the server at '{}' runs data directory '/', not '/tmp'", conn_.Describe()));

  pg::ServerInfo standby = GoodServer();
  standby.in_recovery = true;
  EXPECT_EQ(CheckServer(*repo_, standby, "/", conn_).message(),
            "backup from a standby is not supported yet; run it on the primary");

  pg::ServerInfo not_archiving = GoodServer();
  not_archiving.archive_mode = "off";
  Status off = CheckServer(*repo_, not_archiving, "/", conn_);
  EXPECT_EQ(off.code(), Code::kPg);
  EXPECT_EQ(off.message(), fmt::format("archive_mode is off on '{}'", conn_.Describe()));
  EXPECT_EQ(off.hint(), pg::ArchivingHint("mem:"));
  EXPECT_EQ(off.hint(),
            "set archive_mode = on and archive_command = 'pgvault --repo mem: archive-push %p', "
            "then restart PostgreSQL");
}

}  // namespace
}  // namespace pgvault::backup

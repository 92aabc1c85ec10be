// A damaged repository (issue 16): one damaged backup must not take the others with it, and
// verify must find every kind of damage restore would trip over.
//
// One small source cluster archiving into one unencrypted repository with two backups serves the
// suite; every test damages a copy of it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "exit_codes.h"
#include "marks.h"
#include "pg_cluster.h"
#include "repo/manifest.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"
#include "suite_source.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class DamageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kNone);
    source_ = NewArchivingSource(*repo_);
    source_->Exec("CREATE TABLE generation(n int)");
    source_->Exec("INSERT INTO generation VALUES (1)");
    old_id_ = TakeBackup();
    std::this_thread::sleep_for(1100ms);  // backup ids have a resolution of one second
    source_->Exec("UPDATE generation SET n = 2");
    new_id_ = TakeBackup();
    source_->SwitchWalAndWaitArchived();
  }

  static std::string TakeBackup() {
    ProcessResult backup = repo_->Backup(*source_);
    if (backup.exit_code != 0) throw HarnessError("the suite's backup failed: " + backup.err);
    return BackupIdFromSummary(backup.out);
  }

  static void TearDownTestSuite() {
    delete source_;
    delete repo_;
  }

  // A copy of the suite's repository in scratch_.
  std::string CopyRepo() {
    std::string copy = scratch_.Sub("repo");
    CopyTree(repo_->path(), copy);
    return copy;
  }

  static ProcessResult At(const std::string& repo, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--repo", repo};
    all.insert(all.end(), args.begin(), args.end());
    return RunPgvault(all);
  }

  static TestRepo* repo_;
  static PgCluster* source_;
  static std::string old_id_, new_id_;
  TempDir scratch_{"damage"};
};

TestRepo* DamageTest::repo_ = nullptr;
PgCluster* DamageTest::source_ = nullptr;
std::string DamageTest::old_id_;
std::string DamageTest::new_id_;

TEST_F(DamageTest, ADamagedOldManifestLeavesTheNewestBackupUsableAndCanBeExpired) {
  std::string repo = CopyRepo();
  std::string manifest = repo + "/backups/" + old_id_ + "/manifest";
  FlipByte(manifest, fs::file_size(manifest) / 2);

  // info lists it as damaged, the other one normally, and succeeds.
  ProcessResult info = At(repo, {"info", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto json = nlohmann::json::parse(info.out);
  ASSERT_EQ(json["backups"].size(), 2u) << info.out;
  EXPECT_EQ(json["backups"][0]["id"], old_id_);
  EXPECT_EQ(json["backups"][0]["status"], "damaged");
  EXPECT_TRUE(json["backups"][0]["reason"].get<std::string>().starts_with(
      fmt::format("manifest of backup '{}' is damaged", old_id_)))
      << info.out;
  EXPECT_EQ(json["backups"][1]["id"], new_id_);
  EXPECT_EQ(json["backups"][1]["status"], "ok");
  EXPECT_GT(json["backups"][1]["files"].get<int>(), 0);
  ProcessResult text = At(repo, {"info"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(fmt::format("backup {}: DAMAGED: manifest of backup '{}' is damaged",
                                      old_id_, old_id_)),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find(fmt::format("backup {} (full): ", new_id_)), std::string::npos)
      << text.out;

  // An explicit request for it is corruption; without --backup the newest one restores.
  TempDir target("damagedrestore");
  ProcessResult explicit_old =
      At(repo, {"restore", "--pgdata", target.Sub("old"), "--backup", old_id_});
  EXPECT_EQ(explicit_old.exit_code, kExitCorruption) << explicit_old.err;
  EXPECT_NE(explicit_old.err.find(fmt::format("manifest of backup '{}' is damaged", old_id_)),
            std::string::npos)
      << explicit_old.err;
  EXPECT_FALSE(fs::exists(target.Sub("old")));

  int port = FreePort();
  ProcessResult restore = At(repo, {"restore", "--pgdata", target.Sub("pgdata"), "--pg-host",
                                    "127.0.0.1", "--pg-port", std::to_string(port), "--start"});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_NE(restore.err.find(fmt::format("skipping damaged backup '{}'", old_id_)),
            std::string::npos)
      << restore.err;
  {
    Restored db(target.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar("SELECT n FROM generation"), "2");
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM pgbench_accounts"), "100000");
  }

  // expire removes it though its manifest cannot be read; then info is clean.
  ProcessResult expire = At(repo, {"expire", "--backup", old_id_});
  ASSERT_EQ(expire.exit_code, 0) << expire.err;
  EXPECT_TRUE(expire.out.starts_with(fmt::format("expired backup {}", old_id_))) << expire.out;
  EXPECT_TRUE(FilesUnder(repo, "backups/" + old_id_ + "/").empty());
  ProcessResult after = At(repo, {"info", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto after_json = nlohmann::json::parse(after.out);
  ASSERT_EQ(after_json["backups"].size(), 1u) << after.out;
  EXPECT_EQ(after_json["backups"][0]["id"], new_id_);
  EXPECT_EQ(after_json["backups"][0]["status"], "ok");
  ProcessResult verify = At(repo, {"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(DamageTest, VerifyNamesManifestPartsWhoseManifestWasRemoved) {
  std::string repo = CopyRepo();
  fs::remove(repo + "/backups/" + old_id_ + "/manifest");
  ProcessResult r = At(repo, {"verify"});
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("'backups/{}/files.000000'", old_id_)), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("verify: OK"), std::string::npos) << r.out;
}

// Rewrites the newest backup's manifest in an unencrypted copy with `edit` applied to its entries.
void RewriteManifest(const std::string& repo, const std::string& id,
                     const std::function<void(std::vector<repo::FileEntry>&)>& edit) {
  auto opened = repo::Repository::Open(std::make_unique<storage::PosixStorage>(repo), {});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  repo::Repository& r = **opened;
  auto reader = repo::ManifestReader::Open(r.storage(), r.codec(), id);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<repo::FileEntry> entries;
  repo::FileEntry e;
  while ((*reader)->Next(e)) entries.push_back(e);
  ASSERT_TRUE((*reader)->status().ok());
  repo::ManifestHeader header = (*reader)->header();
  edit(entries);
  fs::remove_all(repo + "/backups/" + id);
  repo::ManifestWriter writer(r.storage(), r.codec(), id);
  for (const auto& entry : entries) ASSERT_TRUE(writer.Add(entry).ok());
  ASSERT_TRUE(writer.Finish(header).ok());
  ASSERT_EQ(std::system(fmt::format("chown -R postgres:postgres '{}'", repo).c_str()), 0);
}

TEST_F(DamageTest, VerifyNamesAManifestEntryThatLeavesTheTarget) {
  std::string repo = CopyRepo();
  RewriteManifest(repo, new_id_, [](std::vector<repo::FileEntry>& entries) {
    for (auto& entry : entries)
      if (entry.path == "PG_VERSION") entry.path = "../PG_VERSION";
  });
  ProcessResult r = At(repo, {"verify", "--backup", new_id_});
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.out << r.err;
  EXPECT_NE(r.out.find("manifest holds an unsafe path '../PG_VERSION'"), std::string::npos)
      << r.out;
}

// Restore refuses a manifest entry that leaves the target before it writes anything: the
// target directory is not even created, and nothing appears where the entry points.
TEST_F(DamageTest, RestoreRefusesEntriesLeavingTheTargetBeforeWritingAnything) {
  TempDir outside("outside");
  struct Hostile {
    std::string label, expected;
    std::function<void(repo::FileEntry&)> edit;  // applied to the entry of `victim`
    std::string victim;
  };
  std::vector<Hostile> cases = {
      {"dotdot", "manifest holds an unsafe path '../PG_VERSION'",
       [](repo::FileEntry& e) { e.path = "../PG_VERSION"; }, "PG_VERSION"},
      {"absolute", fmt::format("manifest holds an unsafe path '{}/PG_VERSION'", outside.path()),
       [&](repo::FileEntry& e) { e.path = outside.path() + "/PG_VERSION"; }, "PG_VERSION"},
      {"symlink", "manifest holds an unexpected link 'pg_notify'",
       [&](repo::FileEntry& e) {
         e.type = repo::EntryType::kSymlink;
         e.link_target = outside.path();
       },
       "pg_notify"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string repo = scratch_.Sub("repo-" + c.label);
    CopyTree(repo_->path(), repo);
    bool edited = false;
    RewriteManifest(repo, new_id_, [&](std::vector<repo::FileEntry>& entries) {
      for (auto& entry : entries)
        if (entry.path == c.victim) c.edit(entry), edited = true;
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.path < b.path; });
    });
    ASSERT_TRUE(edited);
    std::string target = scratch_.Sub("target-" + c.label);
    ProcessResult r = At(repo, {"restore", "--pgdata", target, "--backup", new_id_});
    EXPECT_EQ(r.exit_code, kExitCorruption) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(target)) << "restore wrote into the target before refusing";
    EXPECT_TRUE(FilesUnder(outside.path()).empty()) << "restore wrote outside the target";
  }
}

TEST_F(DamageTest, VerifyNamesAPackWithAFlippedTrailerByte) {
  std::string repo = CopyRepo();
  std::vector<std::string> packs = FilesUnder(repo, "packs/");
  ASSERT_FALSE(packs.empty());
  std::string pack = packs[0];
  // 12 bytes of size and magic end the pack; the sealed trailer comes before them.
  FlipByte(repo + "/" + pack, fs::file_size(repo + "/" + pack) - 12 - 5);
  ProcessResult r = At(repo, {"verify"});
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("pack '{}' trailer", pack)), std::string::npos) << r.out;
}

// The next backup takes the newest intact backup as its parent: a damaged newest manifest is
// passed over with a warning instead of failing every later backup.
TEST_F(DamageTest, ADamagedNewestManifestDoesNotStopTheNextBackup) {
  std::string repo = CopyRepo();
  std::string manifest = repo + "/backups/" + new_id_ + "/manifest";
  FlipByte(manifest, fs::file_size(manifest) / 2);
  source_->SetArchiveCommand(ArchivePushCommand(repo));
  ProcessResult backup = At(repo, {"backup", "--pgdata", source_->pgdata(), "--pg-host",
                                   "127.0.0.1", "--pg-port", std::to_string(source_->port())});
  source_->SetArchiveCommand(repo_->ArchiveCommand());
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_NE(backup.err.find(fmt::format("backup '{}' is damaged", new_id_)), std::string::npos)
      << backup.err;
  EXPECT_NE(backup.err.find("it is not used as the parent"), std::string::npos) << backup.err;
  std::string next_id = BackupIdFromSummary(backup.out);
  ASSERT_FALSE(next_id.empty()) << backup.out;
  ProcessResult verified = At(repo, {"verify", "--backup", next_id});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace pgvault::test

// verify on the in-memory storage: what restore refuses, verify must refuse too, and objects that
// belong to no backup are reported.
#include "verify/verify.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "storage/fault/fault_storage.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::verify {
namespace {

constexpr char kId[] = "20261128-120000F";

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::RepoParams params;
    params.encrypted = false;
    ASSERT_TRUE(repo::Repository::Create(mem_, params, {}).ok());
    auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(mem_), {});
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo).value();
    // The WAL the backups below need (its content is not decoded: options.wal = false).
    ASSERT_TRUE(mem_.Put(*repo::WalKey("000000010000000000000002"), Bytes(100, 1), {}).ok());
  }

  // A backup of files at paths, one block each, in one pack; returns the pack's key.
  std::string MakeBackup(const std::string& id, const std::vector<std::string>& paths) {
    repo::PackWriter packs(mem_, repo_->codec(), 1 << 20, nullptr);
    pipeline::Hmac hmac(repo_->id_key());
    repo::ManifestWriter manifest(mem_, repo_->codec(), id);
    std::string pack_key;
    std::vector<repo::FileEntry> entries;
    for (const auto& path : paths) {
      Bytes block(1000, static_cast<uint8_t>(path.size()));
      block[0] = static_cast<uint8_t>(entries.size());
      repo::BlockRef ref{.id = hmac.Compute(block)};
      auto loc = packs.Add(ref.id, block);
      EXPECT_TRUE(loc.ok());
      ref.loc = *loc;
      pack_key = repo::PackKey(loc->pack);
      repo::FileEntry e{.type = repo::EntryType::kFile, .path = path, .mode = 0600, .size = 1000};
      e.blocks.push_back(ref);
      e.checksum = repo::FileChecksum(e.blocks);
      entries.push_back(e);
    }
    EXPECT_TRUE(packs.Flush().ok());
    EXPECT_TRUE(repo_->CheckCluster(7, 15, 16 << 20).ok());  // as a backup does first
    for (const auto& e : entries) EXPECT_TRUE(manifest.Add(e).ok());
    EXPECT_TRUE(manifest
                    .Finish({.pg_version = 150000,
                             .system_identifier = "7",
                             .timeline = 1,
                             .start_lsn = 0x2000028,
                             .stop_lsn = 0x2000100,
                             .wal_segment_size = 16 << 20,
                             .block_size = 131072})
                    .ok());
    return pack_key;
  }

  VerifyReport Run(const std::string& backup_id = "") {
    auto report = Verify(*repo_, {.backup_id = backup_id, .jobs = 2, .wal = false});
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(VerifyTest, AGoodBackupVerifies) {
  MakeBackup(kId, {"base/1/1", "base/1/2"});
  VerifyReport r = Run();
  EXPECT_EQ(r.problem_count(), 0u) << FormatText(r);
  EXPECT_TRUE(FormatText(r).find("verify: OK (1 backup,") != std::string::npos) << FormatText(r);
}

TEST_F(VerifyTest, ManifestPartsWithoutTheirManifestAreAnError) {
  MakeBackup(kId, {"base/1/1"});
  ASSERT_TRUE(mem_.Delete(repo::ManifestKey(kId)).ok());
  VerifyReport r = Run();
  std::string text = FormatText(r);
  EXPECT_GT(r.problem_count(), 0u) << text;
  EXPECT_NE(text.find(fmt::format("'backups/{}/files.000000'", kId)), std::string::npos) << text;
  EXPECT_EQ(text.find("verify: OK"), std::string::npos) << text;
}

// A killed backup's parts lie beside its incomplete marker: what it left, not a lost manifest.
TEST_F(VerifyTest, ManifestPartsBesideTheirIncompleteMarkerAreAWarning) {
  MakeBackup(kId, {"base/1/1"});
  ASSERT_TRUE(mem_.Delete(repo::ManifestKey(kId)).ok());
  ASSERT_TRUE(mem_.Put(repo::IncompleteMarkerKey(kId), AsBytes(std::string(kId)), {}).ok());
  VerifyReport r = Run();
  std::string text = FormatText(r);
  EXPECT_EQ(r.problem_count(), 0u) << text;
  ASSERT_EQ(r.warnings.size(), 2u) << text;  // the parts, and the pack only they reference
  EXPECT_NE(text.find(fmt::format("a backup, expire or repo-sync of '{}' was interrupted", kId)),
            std::string::npos)
      << text;
}

// A read the repository fails for good (after the driver's retries) ends verify at once: each
// file read on would cost the same retries, and what is left could not be judged anyway.
TEST_F(VerifyTest, AReadTheRepositoryFailsForGoodEndsVerifyAtOnce) {
  std::vector<std::string> paths;
  for (int n = 0; n < 40; ++n) paths.push_back(fmt::format("base/1/{}", 100 + n));
  MakeBackup(kId, paths);
  storage::FaultStorage fault(mem_);
  auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(fault), {});
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  fault.FailNth(storage::StorageOp::kGet, 1, Status::Unavailable("gateway gone"),
                std::string(repo::kPacksPrefix), /*repeat=*/true);
  uint64_t gets = fault.calls(storage::StorageOp::kGet);
  auto report = Verify(**repo, {.jobs = 2, .wal = false});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kUnavailable);
  EXPECT_NE(report.status().message().find(fmt::format("verify of backup '{}' stopped", kId)),
            std::string::npos)
      << report.status().ToString();
  EXPECT_NE(report.status().message().find("gateway gone"), std::string::npos);
  // A read per worker at most (and its reread), not one per file.
  EXPECT_LE(fault.calls(storage::StorageOp::kGet) - gets, 8u);
}

TEST_F(VerifyTest, AnEntryThatLeavesTheTargetIsAnError) {
  MakeBackup(kId, {"../escape", "base/1/1"});
  VerifyReport r = Run();
  std::string text = FormatText(r);
  EXPECT_GT(r.problem_count(), 0u) << text;
  EXPECT_NE(text.find("manifest holds an unsafe path '../escape'"), std::string::npos) << text;
}

TEST_F(VerifyTest, AnAbsoluteEntryIsAnError) {
  MakeBackup(kId, {"/etc/passwd"});
  VerifyReport r = Run();
  EXPECT_NE(FormatText(r).find("manifest holds an unsafe path '/etc/passwd'"), std::string::npos)
      << FormatText(r);
}

TEST_F(VerifyTest, AFlippedPackTrailerByteIsAnErrorNamingThePack) {
  std::string pack = MakeBackup(kId, {"base/1/1", "base/1/2"});
  Bytes* bytes = mem_.Mutable(pack);
  ASSERT_NE(bytes, nullptr);
  (*bytes)[bytes->size() - 12 - 3] ^= 0x40;  // inside the sealed trailer
  VerifyReport r = Run();
  std::string text = FormatText(r);
  EXPECT_GT(r.problem_count(), 0u) << text;
  EXPECT_NE(text.find(fmt::format("pack '{}' trailer", pack)), std::string::npos) << text;
}

TEST_F(VerifyTest, AnUnreferencedPackIsAWarningNamingIt) {
  MakeBackup(kId, {"base/1/1"});
  // A second backup whose manifest was never written leaves its pack behind; drop its parts.
  std::string orphan_pack = MakeBackup("20261128-130000F", {"base/1/9"});
  auto listed = mem_.List("backups/20261128-130000F/");
  for (const auto& obj : *listed) ASSERT_TRUE(mem_.Delete(obj.key).ok());
  VerifyReport r = Run();
  std::string text = FormatText(r);
  EXPECT_EQ(r.problem_count(), 0u) << text;
  EXPECT_NE(text.find(fmt::format("unreferenced: pack '{}'", orphan_pack)), std::string::npos)
      << text;
  EXPECT_NE(text.find("verify: OK (1 backup, 1 warning,"), std::string::npos) << text;
}

}  // namespace
}  // namespace pgvault::verify

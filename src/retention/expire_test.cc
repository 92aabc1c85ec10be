// expire on the in-memory storage: what it removes, and that garbage collection never deletes a
// pack that a backup which started meanwhile may be reusing.
#include "retention/expire.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>

#include "repo/backup_lock.h"
#include "repo/layout.h"
#include "repo/test_repo.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::retention {
namespace {

using storage::BorrowedStorage;
using storage::MemStorage;

// Lets a test act at the moment expire deletes a given key.
class DeleteHook : public BorrowedStorage {
 public:
  DeleteHook(storage::Storage& target, std::string key, std::function<void()> hook)
      : BorrowedStorage(target), key_(std::move(key)), hook_(std::move(hook)) {}
  Status Delete(std::string_view key) override {
    Status s = BorrowedStorage::Delete(key);
    if (key == key_ && hook_) std::exchange(hook_, nullptr)();
    return s;
  }

 private:
  std::string key_;
  std::function<void()> hook_;
};

size_t PackCount(MemStorage& mem) { return mem.List(repo::kPacksPrefix)->size(); }

// An unencrypted repository over storage (which wraps mem) with two backups that share no
// block; first_packs: the packs the first one wrote.
void MakeTwoBackups(MemStorage& mem, std::unique_ptr<storage::Storage> storage,
                    std::unique_ptr<repo::Repository>& repo, size_t& first_packs) {
  ASSERT_TRUE(repo::Repository::Create(mem, {.encrypted = false}, {}).ok());
  auto opened = repo::Repository::Open(std::move(storage), {});
  ASSERT_TRUE(opened.ok());
  repo = std::move(opened).value();
  ASSERT_TRUE(repo::testing::WriteTestBackup(*repo, mem, "20261202-010000F").ok());
  first_packs = PackCount(mem);
  ASSERT_TRUE(
      repo::testing::WriteTestBackup(*repo, mem, "20261202-010001F", 24, 64 << 10, 1000).ok());
}

// MakeTwoBackups, then the first one expired.
Result<ExpireResult> ExpireTheFirstOfTwo(MemStorage& mem, std::unique_ptr<storage::Storage> storage,
                                         size_t& first_packs) {
  std::unique_ptr<repo::Repository> repo;
  MakeTwoBackups(mem, std::move(storage), repo, first_packs);
  if (!repo) return Status::Internal("the two backups were not written");
  return ExpireBackup(*repo, "20261202-010000F", 0);
}

TEST(ExpireTest, RemovesTheBackupAndThePacksOnlyItUsed) {
  MemStorage mem;
  size_t first_packs = 0;
  auto result = ExpireTheFirstOfTwo(mem, std::make_unique<BorrowedStorage>(mem), first_packs);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->packs_deleted, first_packs);
  EXPECT_EQ(*repo::ListBackups(mem), std::vector<std::string>{"20261202-010001F"});
}

// Several backups expired together: each manifest goes, the packs are collected once (counted on
// the last result) and packs/ is listed the same number of times as for one backup.
class CountingLists : public BorrowedStorage {
 public:
  using BorrowedStorage::BorrowedStorage;
  Result<std::vector<storage::ObjectInfo>> List(std::string_view prefix) override {
    if (prefix == repo::kPacksPrefix) pack_lists++;
    return BorrowedStorage::List(prefix);
  }
  int pack_lists = 0;
};

TEST(ExpireTest, SeveralBackupsAreCollectedOnce) {
  MemStorage mem;
  ASSERT_TRUE(repo::Repository::Create(mem, {.encrypted = false}, {}).ok());
  auto counting = std::make_unique<CountingLists>(mem);
  CountingLists* lists = counting.get();
  auto repo = repo::Repository::Open(std::move(counting), {});
  ASSERT_TRUE(repo.ok());
  std::vector<std::string> ids = {"20261202-010000F", "20261202-010001F", "20261202-010002F"};
  for (size_t n = 0; n < ids.size(); ++n)
    ASSERT_TRUE(
        repo::testing::WriteTestBackup(**repo, mem, ids[n], 8, 64 << 10, 100 * (n + 1)).ok());
  size_t packs = PackCount(mem);
  lists->pack_lists = 0;
  auto results = ExpireBackups(**repo, {ids[0], ids[1]}, 0);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].expired_together, 0u);
  EXPECT_EQ((*results)[1].expired_together, 2u);
  EXPECT_EQ((*results)[0].packs_deleted, 0u);
  EXPECT_GT((*results)[1].packs_deleted, 0u);
  EXPECT_EQ(PackCount(mem), packs - (*results)[1].packs_deleted);
  EXPECT_EQ(lists->pack_lists, 2);  // once for redirects, once for packs: not per backup
  EXPECT_EQ(*repo::ListBackups(mem), std::vector<std::string>{ids[2]});
  EXPECT_EQ(SummaryLine((*results)[0]), "expired backup " + ids[0]);
  EXPECT_NE(SummaryLine((*results)[1]).find("that the 2 backups expired together held"),
            std::string::npos);
}

// Refuses to delete packs, as an Object Lock bucket does for retained versions.
class LockedPacks : public BorrowedStorage {
 public:
  using BorrowedStorage::BorrowedStorage;
  Result<std::vector<KeptObject>> DeleteBatch(const std::vector<std::string>& keys) override {
    std::vector<KeptObject> kept;
    for (const auto& key : keys)
      if (key.starts_with(repo::kPacksPrefix))
        kept.push_back({key, "retained until 2033-01-01T00:00:00Z"});
      else
        PGV_RETURN_IF_ERROR(Delete(key));
    return kept;
  }
};

TEST(ExpireTest, LockedPacksAreKeptAndNamed) {
  MemStorage mem;
  size_t first_packs = 0;
  auto result = ExpireTheFirstOfTwo(mem, std::make_unique<LockedPacks>(mem), first_packs);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->packs_deleted, 0u);
  EXPECT_EQ(result->packs_locked, first_packs);
  std::string line = SummaryLine(*result);
  EXPECT_NE(
      line.find(fmt::format("; {} unreferenced packs kept because they are locked", first_packs)),
      std::string::npos)
      << line;
  EXPECT_NE(line.find("\n  kept packs/"), std::string::npos) << line;
  EXPECT_NE(line.find("(retained until 2033-01-01T00:00:00Z)"), std::string::npos) << line;
}

// A backup that takes its lock after expire's first check but before garbage collection may
// already have chosen blocks of the expired backup's packs: expire must see it and keep them.
TEST(ExpireTest, BackupStartingDuringExpireKeepsEveryPack) {
  MemStorage mem;
  ASSERT_TRUE(repo::Repository::Create(mem, {.encrypted = false}, {}).ok());
  ASSERT_TRUE(repo::testing::WriteTestBackup(
                  **repo::Repository::Open(std::make_unique<BorrowedStorage>(mem), {}), mem,
                  "20261202-010000F")
                  .ok());
  size_t packs_before = PackCount(mem);
  std::optional<repo::BackupLock> started;
  auto hooked = std::make_unique<DeleteHook>(mem, repo::ManifestKey("20261202-010000F"), [&] {
    auto lock = repo::LockBackup(mem);
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    started.emplace(std::move(lock).value());
  });
  auto repo = repo::Repository::Open(std::move(hooked), {});
  ASSERT_TRUE(repo.ok());
  auto result = ExpireBackup(**repo, "20261202-010000F", 0);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(started.has_value());
  EXPECT_TRUE(repo::ListBackups(mem)->empty());
  EXPECT_EQ(result->packs_deleted, 0u);
  EXPECT_EQ(PackCount(mem), packs_before);
  EXPECT_EQ(result->gc_skipped_running, started->backup_id());
  EXPECT_NE(SummaryLine(*result).find("no pack deleted while backup " + started->backup_id() +
                                      " is running"),
            std::string::npos)
      << SummaryLine(*result);
}

}  // namespace
}  // namespace pgvault::retention

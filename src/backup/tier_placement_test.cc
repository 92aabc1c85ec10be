// Where a backup's new objects go by its tiers (retention::PlacementFor): the copy phase and the
// manifest of a monthly backup put every object with the monthly class and lock, a later daily
// one with the daily class and no lock, and neither rewrites the other's packs.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "backup/copy_files.h"
#include "repo/layout.h"
#include "repo/repository.h"
#include "retention/policy.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::backup {
namespace {

constexpr uint32_t kBlock = 4096;
constexpr int64_t kStart = int64_t{1767225600} * 1000000;  // 2026-01-01T00:00:00Z

// Remembers the PutOptions of every Put, by key.
class RecordingStorage : public storage::BorrowedStorage {
 public:
  using BorrowedStorage::BorrowedStorage;
  using Storage::Put;
  Status Put(std::string_view key, ByteView data, const storage::PutOptions& options) override {
    {
      std::lock_guard lock(mu_);
      puts_[std::string(key)] = options;
    }
    return BorrowedStorage::Put(key, data, options);
  }
  std::map<std::string, storage::PutOptions> puts() {
    std::lock_guard lock(mu_);
    return puts_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, storage::PutOptions> puts_;
};

class TierPlacementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgvault-tier-placement-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    repo::RepoParams params{.block_size = kBlock, .pack_size = 64 << 10};
    ASSERT_TRUE(
        repo::Repository::Create(mem_, params, {.passphrase = "unit test passphrase"}).ok());
    auto recording = std::make_unique<RecordingStorage>(mem_);
    recording_ = recording.get();
    auto repo =
        repo::Repository::Open(std::move(recording), {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(repo.ok());
    repo_ = std::move(repo).value();
    policy_.tiers[0] = {.count = 30, .unit = 'd'};
    policy_.tiers[2] = {.count = 7, .unit = 'y'};
    policy_.storage_class = {"STANDARD_IA", "", "GLACIER_IR"};
    policy_.lock = {false, false, true};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Backs up one file of 40 random blocks (seeded) as backup `id` placed as RunBackup places it;
  // returns the keys it put.
  std::map<std::string, storage::PutOptions> Backup(const std::string& id, uint32_t seed,
                                                    const retention::Placement& placement) {
    auto before = recording_->puts();
    std::string path = dir_ + "/16384";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::mt19937 gen(seed);
    for (uint32_t idx = 0; idx < 40 * kBlock; ++idx) out.put(static_cast<char>(gen()));
    out.close();
    std::vector<WalkEntry> walk = {{.type = repo::EntryType::kFile,
                                    .path = "base/5/16384",
                                    .source_path = path,
                                    .mode = 0600,
                                    .size = 40 * kBlock}};
    repo::ManifestWriter manifest = repo_->NewManifestWriter(id);
    manifest.set_put_options(
        {.lock_until_unix = placement.lock_until_unix, .storage_class = placement.storage_class});
    CopyTotals totals;
    Status copied = CopyFiles(*repo_, walk, nullptr, manifest,
                              {.jobs = 2,
                               .lock_until_unix = placement.lock_until_unix,
                               .storage_class = placement.storage_class},
                              totals);
    EXPECT_TRUE(copied.ok()) << copied.ToString();
    EXPECT_TRUE(manifest
                    .Finish(repo::ManifestHeader{
                        .backup_id = id, .wal_segment_size = 16 << 20, .block_size = kBlock})
                    .ok());
    std::map<std::string, storage::PutOptions> added;
    for (const auto& [key, options] : recording_->puts())
      if (!before.count(key)) added[key] = options;
    return added;
  }

  std::string dir_;
  storage::MemStorage mem_;
  RecordingStorage* recording_ = nullptr;
  std::unique_ptr<repo::Repository> repo_;
  retention::Policy policy_;
};

TEST_F(TierPlacementTest, MonthlyAndDailyBackupsPutTheirTiersClassAndLock) {
  // The first backup opens every calendar period: monthly outlives daily.
  retention::Stamp monthly = retention::StampFor(kStart, {}, std::nullopt, policy_);
  ASSERT_EQ(monthly.tiers.size(), 3u);
  retention::Placement m = retention::PlacementFor(kStart, monthly.tiers, policy_);
  EXPECT_EQ(m.storage_class, "GLACIER_IR");
  EXPECT_EQ(m.lock_until_unix, int64_t{1988150400});  // 2033-01-01T00:00:00Z: 7 years on
  auto first = Backup("20260101-000000F", 1, m);
  size_t packs = 0, manifests = 0;
  for (const auto& [key, options] : first) {
    packs += key.starts_with(repo::kPacksPrefix);
    manifests += key.starts_with("backups/20260101-000000F/");
    // The incomplete marker lives seconds (deleted once the manifest is written): never locked.
    if (repo::IsIncompleteMarkerKey(key)) {
      EXPECT_EQ(options.lock_until_unix, 0) << key;
      continue;
    }
    if (!key.starts_with(repo::kPacksPrefix) && !key.starts_with("backups/")) continue;
    EXPECT_EQ(options.storage_class, "GLACIER_IR") << key;
    EXPECT_EQ(options.lock_until_unix, m.lock_until_unix) << key;
  }
  EXPECT_GT(packs, 1u);
  EXPECT_GT(manifests, 0u);

  // An hour later, forced into daily only: daily's class, daily is not locked.
  int64_t later = kStart + int64_t{3600} * 1000000;
  retention::Stamp daily = retention::StampFor(later, {kStart}, retention::Tier::kDaily, policy_);
  ASSERT_EQ(daily.tiers, std::vector<retention::Tier>{retention::Tier::kDaily});
  retention::Placement d = retention::PlacementFor(later, daily.tiers, policy_);
  EXPECT_EQ(d.storage_class, "STANDARD_IA");
  EXPECT_EQ(d.lock_until_unix, 0);
  auto second = Backup("20260101-010000F", 2, d);
  packs = 0;
  for (const auto& [key, options] : second) {
    EXPECT_FALSE(first.count(key)) << key << " was written again";
    packs += key.starts_with(repo::kPacksPrefix);
    if (repo::IsIncompleteMarkerKey(key)) continue;
    if (!key.starts_with(repo::kPacksPrefix) && !key.starts_with("backups/")) continue;
    EXPECT_EQ(options.storage_class, "STANDARD_IA") << key;
    EXPECT_EQ(options.lock_until_unix, 0) << key;
  }
  EXPECT_GT(packs, 1u);
}

TEST(PlacementForTest, LongestLivedTierGivesTheClassAndLockedTiersTheDate) {
  retention::Policy p;
  p.tiers[0] = {.count = 30, .unit = 'd'};
  p.tiers[1] = {.count = 12, .unit = 'w'};
  p.storage_class = {"STANDARD_IA", "", "GLACIER_IR"};  // monthly has no span: not in the policy
  p.lock = {true, false, true};
  using retention::Tier;
  // weekly outlives daily: its class (none, the repository's); only daily is locked.
  auto both = retention::PlacementFor(kStart, {Tier::kDaily, Tier::kWeekly, Tier::kMonthly}, p);
  EXPECT_EQ(both.storage_class, "");
  EXPECT_EQ(both.class_tier, Tier::kWeekly);
  EXPECT_EQ(both.lock_until_unix, kStart / 1000000 + 30 * 86400);
  EXPECT_EQ(both.lock_tier, Tier::kDaily);
  auto none = retention::PlacementFor(kStart, {}, p);
  EXPECT_EQ(none.storage_class, "");
  EXPECT_FALSE(none.class_tier);
  EXPECT_EQ(none.lock_until_unix, 0);
}

}  // namespace
}  // namespace pgvault::backup

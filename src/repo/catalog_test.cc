#include "repo/catalog.h"

#include <gtest/gtest.h>

#include "repo/layout.h"
#include "repo/test_repo.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo {
namespace {

constexpr std::string_view kId = "20261202-010000F";
constexpr int64_t kT0 = 1764637200000000;  // 2025-12-02 01:00:00 UTC

TEST(CatalogLayoutTest, RecordNamesRoundTripAndOnlyCanonicalOnesParse) {
  std::string key = CatalogRecordKey(kId, "verify", kT0 + 42, 0xdeadbeef);
  EXPECT_EQ(key, "catalog/20261202-010000F/verify.20251202T010000000042Z.deadbeef");
  auto parsed = ParseCatalogRecordKey(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->backup_id, kId);
  EXPECT_EQ(parsed->kind, "verify");
  EXPECT_EQ(parsed->time_unix_micros, kT0 + 42);
  EXPECT_EQ(ClassifyKey(key), ObjectKind::kCatalog);
  for (const char* bad : {"catalog/20261202-010000F/verify.20251202T010000000042Z.DEADBEEF",
                          "catalog/20261202-010000F/verify.20251232T010000000042Z.deadbeef",
                          "catalog/not-an-id/verify.20251202T010000000042Z.deadbeef",
                          "catalog/20261202-010000F/Verify.20251202T010000000042Z.deadbeef",
                          "catalog/20261202-010000F/.20251202T010000000042Z.deadbeef",
                          "catalog/20261202-010000F/verify.20251202T010000000042Z",
                          "backups/20261202-010000F/verify.20251202T010000000042Z.deadbeef"})
    EXPECT_FALSE(ParseCatalogRecordKey(bad)) << bad;
}

class CatalogTest : public ::testing::TestWithParam<bool> {};

TEST_P(CatalogTest, RecordsAreListedOldestFirstAndTheNewestOfAKindIsTheState) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem, /*encrypted=*/GetParam());
  ASSERT_TRUE(AppendCatalogRecord(*repo, {.backup_id = std::string(kId),
                                          .kind = RecordKind::kPin,
                                          .time_unix_micros = kT0 + 2,
                                          .body = {{"pinned", false}}})
                  .ok());
  ASSERT_TRUE(AppendCatalogRecord(*repo, {.backup_id = std::string(kId),
                                          .kind = RecordKind::kPin,
                                          .time_unix_micros = kT0 + 1,
                                          .body = {{"pinned", true}}})
                  .ok());
  ASSERT_TRUE(AppendCatalogRecord(*repo, {.backup_id = std::string(kId),
                                          .kind = RecordKind::kVerify,
                                          .time_unix_micros = kT0,
                                          .body = {{"passed", true}}})
                  .ok());
  auto records = ListCatalogRecords(*repo, kId);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].kind, RecordKind::kVerify);
  EXPECT_EQ((*records)[1].body, nlohmann::json({{"pinned", true}}));
  auto pin = NewestRecord(*records, RecordKind::kPin);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->body, nlohmann::json({{"pinned", false}}));
  EXPECT_FALSE(NewestRecord(*records, RecordKind::kDrill));
  EXPECT_TRUE(ListCatalogRecords(*repo, "20261202-020000F")->empty());

  ASSERT_TRUE(RemoveCatalogRecords(*repo, kId).ok());
  EXPECT_TRUE(ListCatalogRecords(*repo, kId)->empty());
}

TEST_P(CatalogTest, AFlippedByteOrAMovedRecordIsCorruptionNamingTheObject) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem, /*encrypted=*/GetParam());
  ASSERT_TRUE(AppendCatalogRecord(*repo, {.backup_id = std::string(kId),
                                          .kind = RecordKind::kDrill,
                                          .time_unix_micros = kT0,
                                          .body = {{"passed", false}}})
                  .ok());
  auto objects = mem.List("catalog/");
  ASSERT_TRUE(objects.ok());
  ASSERT_EQ(objects->size(), 1u);
  const std::string key = (*objects)[0].key;
  Bytes sealed = *mem.Get(key);

  // The same bytes under the name of a passing record at another time: refused.
  std::string moved = CatalogRecordKey(kId, "drill", kT0 + 1, 1);
  ASSERT_TRUE(mem.Put(moved, sealed, {}).ok());
  auto listed = ListCatalogRecords(*repo, kId);
  EXPECT_EQ(listed.status().code(), Code::kCorruption);
  EXPECT_NE(listed.status().message().find(moved), std::string::npos) << listed.status().message();
  ASSERT_TRUE(mem.Delete(moved).ok());

  sealed[sealed.size() / 2] ^= 0x01;
  ASSERT_TRUE(mem.Put(key, sealed, {}).ok());
  listed = ListCatalogRecords(*repo, kId);
  EXPECT_EQ(listed.status().code(), Code::kCorruption);
  EXPECT_NE(listed.status().message().find(key), std::string::npos) << listed.status().message();
  EXPECT_EQ(VerifyCatalogRecordObject(repo->codec(), key, sealed).code(), Code::kCorruption);
}

TEST(CatalogTest, ARecordIsWrittenOnceAndNeedsABackupId) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  EXPECT_EQ(AppendCatalogRecord(*repo, {.backup_id = "../x", .kind = RecordKind::kPin}).code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(mem.List("")->size() > 0);
  EXPECT_TRUE(mem.List("catalog/")->empty());
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, CatalogTest, ::testing::Bool());

}  // namespace
}  // namespace pgvault::repo

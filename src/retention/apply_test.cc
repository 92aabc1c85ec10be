// The retention policy against an in-memory repository: pins as catalog records, the plan's
// inputs, tiers stamped on a new header, and a plan carried out by the per-backup removal.
#include "retention/apply.h"

#include <gtest/gtest.h>

#include "repo/test_repo.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::retention {
namespace {

constexpr char kFirst[] = "20261128-120000F";
constexpr char kSecond[] = "20261129-120000F";
constexpr char kThird[] = "20261130-120000F";

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = repo::testing::OpenMemRepo(mem_);
    for (const char* id : {kFirst, kSecond, kThird})
      ASSERT_TRUE(repo::testing::WriteTestBackup(*repo_, mem_, id).ok());
  }
  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(ApplyTest, PinAndUnpinAreTheNewestRecord) {
  EXPECT_FALSE(*IsPinned(*repo_, kFirst));
  ASSERT_TRUE(SetPinned(*repo_, kFirst, true).ok());
  EXPECT_TRUE(*IsPinned(*repo_, kFirst));
  ASSERT_TRUE(SetPinned(*repo_, kFirst, false).ok());
  EXPECT_FALSE(*IsPinned(*repo_, kFirst));
  Status s = SetPinned(*repo_, "20200101-000000F", true);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST_F(ApplyTest, PlanInputsCarryPinsAndUnrecordedTiers) {
  ASSERT_TRUE(SetPinned(*repo_, kSecond, true).ok());
  auto inputs = PlanInputs(*repo_, nullptr);
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ASSERT_EQ(inputs->size(), 3u);
  EXPECT_FALSE((*inputs)[0].pinned);
  EXPECT_TRUE((*inputs)[1].pinned);
  EXPECT_FALSE((*inputs)[2].tiers.has_value());  // written without tiers
  EXPECT_EQ((*inputs)[2].start_wal, "000000010000000000000002");
}

TEST_F(ApplyTest, ApplyPlanExpiresWhatGoesAndNothingElse) {
  Plan plan;
  plan.entries = {
      {.id = kFirst, .keep = false}, {.id = kSecond, .keep = true}, {.id = kThird, .keep = true}};
  auto done = ApplyPlan(*repo_, plan, 0);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].backup_id, kFirst);
  EXPECT_EQ(*repo::ListBackups(mem_), (std::vector<std::string>{kSecond, kThird}));
}

TEST_F(ApplyTest, StampRecordsTheTiersAndMovesTheClock) {
  repo::ManifestHeader header{.backup_id = "20261201-120000F",
                              .start_time_unix_micros = 5000000,
                              .stop_time_unix_micros = 7000000};
  TierOptions options{.forced = Tier::kMonthly, .now_micros = int64_t{1796083200} * 1000000};
  options.policy.tiers[0] = Span{30, 'd'};
  ASSERT_TRUE(StampTiers(*repo_, options, header).ok());
  EXPECT_EQ(header.start_time, "2026-12-01T00:00:00.000000Z");
  EXPECT_EQ(header.stop_time, "2026-12-01T00:00:02.000000Z");
  // The other backups started at 0 (1970): this one opens its day, week and month.
  EXPECT_EQ(*header.tiers, (std::vector<std::string>{"daily", "weekly", "monthly"}));
  EXPECT_EQ(TierLine(header, options.policy),
            "backup 20261201-120000F joined tiers daily+weekly+monthly; retention date "
            "2026-12-31T00:00:00.000000Z");
}

}  // namespace
}  // namespace pgvault::retention

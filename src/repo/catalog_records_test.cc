#include "repo/catalog_records.h"

#include <gtest/gtest.h>

namespace pgvault::repo {
namespace {

TEST(CatalogRecordsTest, VerifyRecordRoundTrips) {
  VerifyRecord v{.passed = false,
                 .time = "2026-12-02T05:00:00.000000Z",
                 .seconds = 1.5,
                 .checked = {"manifest", "blocks"},
                 .sample_percent = 10,
                 .files = 3,
                 .blocks = 7,
                 .bytes_read = 900,
                 .problems = {{"packs/ab/x", "damaged"}, {"", "wal gap"}}};
  auto j = VerifyRecordToJson(v);
  EXPECT_EQ(j["result"], "fail");
  EXPECT_EQ(j["problems"][0]["object"], "packs/ab/x");
  auto back = ParseVerifyRecord("B", j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(VerifyRecordToJson(*back), j);
}

TEST(CatalogRecordsTest, DrillRecordRoundTrips) {
  DrillRecord d{.passed = true,
                .time = "2026-12-02T05:00:00.000000Z",
                .target = "end of the archived WAL",
                .restore_seconds = 1,
                .replay_seconds = 2,
                .checks_seconds = 3,
                .rto_seconds = 3,
                .checks = {{"rows public.subjects", true, "50", "", 0.01}}};
  auto j = DrillRecordToJson(d);
  EXPECT_EQ(j["checks"][0]["result"], "pass");
  auto back = ParseDrillRecord("B", j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(DrillRecordToJson(*back), j);
}

TEST(CatalogRecordsTest, AMissingOrMistypedFieldIsCorruptionNamingIt) {
  auto j = DrillRecordToJson({});
  j.erase("rto_seconds");
  auto missing = ParseDrillRecord("B", j);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "drill record of backup 'B': field 'rto_seconds' is missing");
  auto v = VerifyRecordToJson({});
  v["files"] = "three";
  auto mistyped = ParseVerifyRecord("B", v);
  ASSERT_FALSE(mistyped.ok());
  EXPECT_EQ(mistyped.status().code(), Code::kCorruption);
  EXPECT_EQ(mistyped.status().message(),
            "verify record of backup 'B': field 'files' is of the wrong type");
  v = VerifyRecordToJson({});
  v["result"] = "maybe";
  EXPECT_FALSE(ParseVerifyRecord("B", v).ok());
}

TEST(CatalogRecordsTest, ProblemLinesNameTheirObject) {
  auto p = ProblemFromLine("'base/1/2': block 3 is damaged");
  EXPECT_EQ(p.object, "base/1/2");
  EXPECT_EQ(p.message, "block 3 is damaged");
  EXPECT_EQ(ProblemFromLine("wal gap").object, "");
}

}  // namespace
}  // namespace pgvault::repo

// The health checks' verdict rules: thresholds and their edges, without a server.
#include "check/health.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace pgvault::check {
namespace {

constexpr uint64_t kGiB = 1024ull * 1024 * 1024;

TEST(HealthTest, ParsesFreeSpaceAsPercentOrAmount) {
  auto pct = ParseFreeSpace("10%");
  ASSERT_TRUE(pct.ok());
  EXPECT_TRUE(pct->percent);
  EXPECT_EQ(pct->value, 10);
  auto mib = ParseFreeSpace("512MiB");
  ASSERT_TRUE(mib.ok());
  EXPECT_FALSE(mib->percent);
  EXPECT_EQ(mib->value, 512.0 * 1024 * 1024);
  auto bare = ParseFreeSpace("100");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->value, 100.0 * 1024 * 1024);
  auto gib = ParseFreeSpace("2.5GiB");
  ASSERT_TRUE(gib.ok());
  EXPECT_EQ(gib->value, 2.5 * kGiB);
  for (const char* bad : {"", "%", "101%", "-1%", "10 %", "10MB", "ten", "10GiBs"}) {
    auto r = ParseFreeSpace(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), fmt::format("invalid --min-free-space '{}'", bad));
    EXPECT_FALSE(r.status().hint().empty());
  }
}

TEST(HealthTest, DiskIsCriticalBelowTheMinimumAndAWarningBelowTwiceIt) {
  FreeSpace ten_pct{.percent = true, .value = 10};
  // 100 GiB file system: critical below 10 GiB, warning below 20 GiB.
  EXPECT_EQ(DiskCheck("disk_pgdata", "/d", 50 * kGiB, 100 * kGiB, ten_pct).verdict, Verdict::kOk);
  EXPECT_EQ(DiskCheck("disk_pgdata", "/d", 20 * kGiB, 100 * kGiB, ten_pct).verdict, Verdict::kOk);
  auto warn = DiskCheck("disk_pgdata", "/d", 20 * kGiB - 1, 100 * kGiB, ten_pct);
  EXPECT_EQ(warn.verdict, Verdict::kWarning);
  EXPECT_NE(warn.hint.find("below twice --min-free-space 10%"), std::string::npos) << warn.hint;
  EXPECT_EQ(DiskCheck("disk_pgdata", "/d", 10 * kGiB, 100 * kGiB, ten_pct).verdict,
            Verdict::kWarning);
  auto crit = DiskCheck("disk_spool", "/spool", 10 * kGiB - 1, 100 * kGiB, ten_pct);
  EXPECT_EQ(crit.verdict, Verdict::kCritical);
  EXPECT_EQ(crit.code, Code::kCheckFailed);
  EXPECT_EQ(crit.name, "disk_spool");
  EXPECT_NE(crit.value.find("10.0 GiB free of 100.0 GiB (10.0%) at '/spool'"), std::string::npos)
      << crit.value;
  // An amount: the same on any file system size.
  FreeSpace one_gib{.percent = false, .value = 1.0 * kGiB};
  EXPECT_EQ(DiskCheck("d", "/d", 3 * kGiB, 1000 * kGiB, one_gib).verdict, Verdict::kOk);
  EXPECT_EQ(DiskCheck("d", "/d", kGiB + kGiB / 2, 1000 * kGiB, one_gib).verdict, Verdict::kWarning);
  EXPECT_EQ(DiskCheck("d", "/d", kGiB / 2, 2 * kGiB, one_gib).verdict, Verdict::kCritical);
  // 100% can never be met: there is always something on the file system.
  FreeSpace all{.percent = true, .value = 100};
  EXPECT_EQ(DiskCheck("d", "/d", 99 * kGiB, 100 * kGiB, all).verdict, Verdict::kCritical);
  // 0% never fails, even on a full disk.
  EXPECT_EQ(DiskCheck("d", "/d", 0, 100 * kGiB, FreeSpace{.value = 0}).verdict, Verdict::kOk);
}

TEST(HealthTest, ArchiveVerdicts) {
  const std::string hint = "set archive_command";
  ArchiveFacts off{.archiving = false};
  auto c = ArchiveCheck(off, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kCritical);
  EXPECT_EQ(c.code, Code::kPg);
  EXPECT_EQ(c.hint, hint);

  ArchiveFacts good{
      .lag_seconds = 0, .switched_segment = "000000010000000000000003", .arrival_seconds = 0.2};
  c = ArchiveCheck(good, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  EXPECT_TRUE(c.hint.empty());
  EXPECT_NE(c.value.find("segment 000000010000000000000003 reached the repository in 0.20 s"),
            std::string::npos)
      << c.value;

  ArchiveFacts lagging = good;
  lagging.lag_seconds = 300;
  EXPECT_EQ(ArchiveCheck(lagging, 300, hint).verdict, Verdict::kOk);  // at the limit: ok
  lagging.lag_seconds = 301;
  lagging.lag_segments = 7;
  c = ArchiveCheck(lagging, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kWarning);
  EXPECT_NE(c.value.find("lag 301 s (7 segments)"), std::string::npos) << c.value;
  EXPECT_NE(c.hint.find("--max-archive-lag 300 s"), std::string::npos) << c.hint;

  ArchiveFacts failing = good;
  failing.failing = true;
  failing.last_failed_wal = "000000010000000000000002";
  c = ArchiveCheck(failing, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kCritical);
  EXPECT_NE(c.hint.find("last on '000000010000000000000002'"), std::string::npos) << c.hint;

  ArchiveFacts lost = good;
  lost.switch_error = "WAL segment 'X' did not reach repository '/r' within 5 s";
  c = ArchiveCheck(lost, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kCritical);
  EXPECT_EQ(c.code, Code::kPg);
  EXPECT_NE(c.value.find("did not reach repository"), std::string::npos);

  // A standby archives only with archive_mode = always; else the primary does, whatever is set.
  ArchiveFacts follower{.archiving = false, .primary_archives = true, .standby = true};
  c = ArchiveCheck(follower, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  EXPECT_NE(c.value.find("its primary archives the WAL"), std::string::npos) << c.value;
  ArchiveFacts standby{.standby = true};
  c = ArchiveCheck(standby, 300, hint);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  EXPECT_NE(c.value.find("standby"), std::string::npos);
}

TEST(HealthTest, ReplicationLagIsAWarningAboveTheLimit) {
  auto c = ReplicationCheck(ReplicationFacts{}, 300);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  EXPECT_EQ(c.value, "not a standby, and no standbys");
  ReplicationFacts primary{.lag_seconds = 12, .lag_bytes = 4096, .standby_count = 2};
  c = ReplicationCheck(primary, 300);
  EXPECT_EQ(c.verdict, Verdict::kOk);
  EXPECT_EQ(c.value, "2 standbys, the furthest 12 s (4096 bytes) behind");
  primary.lag_seconds = 301;
  EXPECT_EQ(ReplicationCheck(primary, 300).verdict, Verdict::kWarning);
  ReplicationFacts standby{.standby = true, .receiving = true, .lag_seconds = 5};
  EXPECT_EQ(ReplicationCheck(standby, 300).verdict, Verdict::kOk);
  standby.lag_seconds = 600;
  EXPECT_EQ(ReplicationCheck(standby, 300).verdict, Verdict::kWarning);
  ReplicationFacts orphan{.standby = true, .receiving = false};
  c = ReplicationCheck(orphan, 300);
  EXPECT_EQ(c.verdict, Verdict::kWarning);
  EXPECT_NE(c.hint.find("primary_conninfo"), std::string::npos);
}

TEST(HealthTest, ClockSkewWarnsAt60AndIsCriticalAt300Seconds) {
  Thresholds t;
  auto skipped = ClockSkewCheck(std::nullopt, t);
  EXPECT_EQ(skipped.verdict, Verdict::kOk);
  EXPECT_NE(skipped.value.find("skipped"), std::string::npos);
  EXPECT_EQ(ClockSkewCheck(0.4, t).verdict, Verdict::kOk);
  EXPECT_EQ(ClockSkewCheck(-0.4, t).value, "the repository's clock is +0 s from the local clock");
  EXPECT_EQ(ClockSkewCheck(-60, t).verdict, Verdict::kOk);
  EXPECT_EQ(ClockSkewCheck(61, t).verdict, Verdict::kWarning);
  EXPECT_EQ(ClockSkewCheck(-61, t).verdict, Verdict::kWarning);
  auto far = ClockSkewCheck(-301, t);
  EXPECT_EQ(far.verdict, Verdict::kCritical);
  EXPECT_EQ(far.value, "the repository's clock is -301 s from the local clock");
  EXPECT_NE(far.hint.find("NTP"), std::string::npos);
}

TEST(HealthTest, CriticalStatusNamesTheFirstCriticalCheckWithItsHintAndCode) {
  std::vector<HealthCheck> checks = {
      {.name = "connectivity", .value = "PostgreSQL 15.4"},
      {.name = "clock_skew", .verdict = Verdict::kWarning, .value = "70 s", .hint = "ntp"},
  };
  EXPECT_EQ(Worst(checks), Verdict::kWarning);
  EXPECT_TRUE(CriticalStatus(checks).ok());
  checks.push_back({.name = "archive",
                    .verdict = Verdict::kCritical,
                    .value = "the server does not archive WAL",
                    .hint = "set archive_mode",
                    .code = Code::kPg});
  checks.push_back({.name = "disk_spool",
                    .verdict = Verdict::kCritical,
                    .value = "1 MiB free",
                    .hint = "free space",
                    .code = Code::kCheckFailed});
  EXPECT_EQ(Worst(checks), Verdict::kCritical);
  Status s = CriticalStatus(checks);
  EXPECT_EQ(s.code(), Code::kPg);
  EXPECT_EQ(s.message(),
            "health check 'archive' is critical: the server does not archive WAL (and 1 more "
            "critical checks, listed above)");
  EXPECT_EQ(s.hint(), "set archive_mode");
  checks.erase(checks.begin() + 2);
  s = CriticalStatus(checks);
  EXPECT_EQ(s.code(), Code::kCheckFailed);
  EXPECT_EQ(s.message(), "health check 'disk_spool' is critical: 1 MiB free");
  EXPECT_EQ(std::string(VerdictName(Verdict::kWarning)), "warning");
}

}  // namespace
}  // namespace pgvault::check

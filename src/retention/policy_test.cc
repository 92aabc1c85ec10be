// The retention plan on simulated backup histories: tiers by the calendar (UTC and a DST zone,
// ISO week and month boundaries), forced and recorded tiers, the PITR window, what always stays.
#include "retention/policy.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "repo/layout.h"
#include "retention/calendar.h"

namespace pgvault::retention {
namespace {

constexpr int64_t kDay = int64_t{86400} * 1000000;

// "2025-01-01T02:00:00Z" as unix micros.
int64_t At(const std::string& iso) {
  std::tm tm{};
  strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}

std::string DayOf(int64_t micros) {
  time_t t = micros / 1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// One backup a day at 02:00 UTC from `first` to `last` inclusive; the id is the day.
std::vector<PlanBackup> Daily(const std::string& first, const std::string& last) {
  std::vector<PlanBackup> out;
  for (int64_t t = At(first + "T02:00:00"); t <= At(last + "T02:00:00"); t += kDay)
    out.push_back({.id = DayOf(t), .start_micros = t, .start_wal = "wal-" + DayOf(t)});
  return out;
}

Policy Gfs() {
  Policy p;
  p.tiers = {Span{30, 'd'}, Span{12, 'w'}, Span{7, 'y'}};
  return p;
}

std::set<std::string> Kept(const Plan& plan) {
  std::set<std::string> out;
  for (const auto& e : plan.entries)
    if (e.keep) out.insert(e.id);
  return out;
}

const PlanEntry& Entry(const Plan& plan, const std::string& id) {
  for (const auto& e : plan.entries)
    if (e.id == id) return e;
  throw std::runtime_error("no entry " + id);
}

size_t CountInTier(const Plan& plan, Tier tier) {
  size_t n = 0;
  for (const auto& e : plan.entries)
    n += std::find(e.tiers.begin(), e.tiers.end(), tier) != e.tiers.end();
  return n;
}

TEST(PolicyTest, FourteenMonthsOfDailyBackupsKeepExactlyTheTiers) {
  auto backups = Daily("2025-01-01", "2026-02-28");
  ASSERT_EQ(backups.size(), 424u);  // 365 days of 2025, 31 of January, 28 of February
  auto plan = MakePlan(backups, Gfs(), At("2026-02-28T03:00:00"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(CountInTier(*plan, Tier::kDaily), 424u);   // every day's first backup
  EXPECT_EQ(CountInTier(*plan, Tier::kWeekly), 61u);   // 52 ISO weeks of 2025 + 9 of 2026
  EXPECT_EQ(CountInTier(*plan, Tier::kMonthly), 14u);  // 2025-01 .. 2026-02
  // daily 30d: started after 2026-01-29T03:00, i.e. Jan 30 .. Feb 28: 30 backups.
  std::set<std::string> daily;
  for (const auto& b : Daily("2026-01-30", "2026-02-28")) daily.insert(b.id);
  ASSERT_EQ(daily.size(), 30u);
  // weekly 12w: Mondays after 2025-12-06T03:00 (84 days before now): 12 backups.
  std::set<std::string> weekly = {"2025-12-08", "2025-12-15", "2025-12-22", "2025-12-29",
                                  "2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26",
                                  "2026-02-02", "2026-02-09", "2026-02-16", "2026-02-23"};
  // monthly 7y: every first of a month.
  std::set<std::string> monthly = {"2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01",
                                   "2025-05-01", "2025-06-01", "2025-07-01", "2025-08-01",
                                   "2025-09-01", "2025-10-01", "2025-11-01", "2025-12-01",
                                   "2026-01-01", "2026-02-01"};
  std::set<std::string> expected = daily;
  expected.insert(weekly.begin(), weekly.end());
  expected.insert(monthly.begin(), monthly.end());
  EXPECT_EQ(expected.size(), 51u);  // 30 + 8 Mondays before Jan 30 + 13 firsts before Jan 30
  EXPECT_EQ(Kept(*plan), expected);
  for (const auto& id : weekly)
    EXPECT_NE(Entry(*plan, id).why.find("weekly"), std::string::npos) << id;
  EXPECT_EQ(Entry(*plan, "2025-06-01").why,
            "daily+monthly until 2032-06-01T02:00:00.000000Z");  // a Sunday: not weekly
  EXPECT_EQ(Entry(*plan, "2025-06-02").why, "daily+weekly ended 2025-08-25T02:00:00.000000Z");
  EXPECT_EQ(Entry(*plan, "2025-06-03").why, "daily ended 2025-07-03T02:00:00.000000Z");
  EXPECT_EQ(plan->wal_cut, "wal-2025-01-01");
  EXPECT_EQ(plan->wal_continuous_from, "wal-2026-02-28");  // no PITR window: the newest
}

TEST(PolicyTest, PitrWindowKeepsItsOldestBackupAndEverythingAfter) {
  Policy p;
  p.tiers[static_cast<int>(Tier::kMonthly)] = Span{7, 'y'};
  p.pitr = Span{7, 'd'};
  auto plan = MakePlan(Daily("2025-01-01", "2026-02-28"), p, At("2026-02-28T03:00:00"));
  ASSERT_TRUE(plan.ok());
  // 14 monthly + Feb 21 (the newest at or before now-7d = Feb 21 03:00) .. Feb 28 (8).
  EXPECT_EQ(plan->kept(), 22u);
  EXPECT_EQ(plan->pitr_from_backup, "2026-02-21");
  EXPECT_EQ(plan->wal_continuous_from, "wal-2026-02-21");
  EXPECT_EQ(plan->wal_cut, "wal-2025-01-01");
  EXPECT_EQ(Entry(*plan, "2026-02-21").why,
            "the oldest backup of the PITR window (from 2026-02-21T03:00:00.000000Z)");
  EXPECT_EQ(Entry(*plan, "2026-02-22").why, "inside the PITR window");
  EXPECT_FALSE(Entry(*plan, "2026-02-20").keep);
  // Only the monthly tier is in the policy: a daily-only backup is in none of its tiers.
  EXPECT_EQ(Entry(*plan, "2026-02-20").why, "its tiers (daily) are not in the policy");
  EXPECT_EQ(Entry(*plan, "2026-02-20").tiers, std::vector<Tier>{});
}

TEST(PolicyTest, PitrWindowLongerThanTheHistoryKeepsEverything) {
  Policy p;
  p.pitr = Span{1, 'y'};
  auto plan = MakePlan(Daily("2026-01-01", "2026-02-28"), p, At("2026-02-28T03:00:00"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->kept(), 59u);
  EXPECT_EQ(plan->pitr_from_backup, "2026-01-01");
}

TEST(PolicyTest, NewestBackupAlwaysStays) {
  Policy p;
  p.tiers[static_cast<int>(Tier::kDaily)] = Span{1, 'd'};
  auto plan = MakePlan(Daily("2025-01-01", "2025-01-03"), p, At("2026-01-01T00:00:00"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Kept(*plan), std::set<std::string>{"2025-01-03"});
  EXPECT_EQ(plan->entries.back().why, "the newest backup");
  EXPECT_EQ(plan->entries[0].why, "daily ended 2025-01-02T02:00:00.000000Z");
}

TEST(PolicyTest, PinnedHeldAndLockedBackupsStay) {
  auto backups = Daily("2025-01-01", "2025-01-05");
  backups[0].pinned = true;
  backups[1].held = true;
  backups[2].retain_until_unix = At("2027-01-01T00:00:00") / 1000000;
  Policy p;
  p.tiers[static_cast<int>(Tier::kDaily)] = Span{1, 'd'};
  auto plan = MakePlan(backups, p, At("2026-01-01T00:00:00"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->entries[0].why, "pinned");
  EXPECT_EQ(plan->entries[1].why, "on legal hold");
  EXPECT_EQ(plan->entries[2].why, "retained by object lock until 2027-01-01T00:00:00.000000Z");
  EXPECT_FALSE(plan->entries[3].keep);
  EXPECT_TRUE(plan->entries[4].keep);
}

TEST(PolicyTest, RecordedTiersWinOverTheCalendar) {
  auto backups = Daily("2025-01-01", "2025-01-03");
  backups.push_back({.id = "late", .start_micros = At("2025-01-01T05:00:00")});
  backups.back().tiers = std::vector<Tier>{Tier::kMonthly};  // a forced tier
  backups[0].tiers = std::vector<Tier>{};                    // recorded: none
  Policy p;
  p.tiers[static_cast<int>(Tier::kMonthly)] = Span{1, 'y'};
  auto plan = MakePlan(backups, p, At("2025-03-01T00:00:00"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Kept(*plan), (std::set<std::string>{"late", "2025-01-03"}));
  EXPECT_EQ(Entry(*plan, "2025-01-01").why,
            "in no tier (not the first backup of a day, week or month)");
  EXPECT_EQ(Entry(*plan, "late").why, "monthly until 2026-01-01T05:00:00.000000Z");
}

TEST(PolicyTest, DstZoneDecidesTheLocalDay) {
  // 2026-03-29 in Berlin: 00:30 CET (23:30Z the day before) and 03:30 CEST (01:30Z).
  std::vector<int64_t> starts = {At("2026-03-28T23:30:00"), At("2026-03-29T01:30:00")};
  auto utc = CalendarTiers(starts, "UTC");
  EXPECT_EQ(TierList(utc[1]), "daily");  // a new UTC day, same ISO week and month
  auto berlin = CalendarTiers(starts, "Europe/Berlin");
  EXPECT_EQ(TierList(berlin[0]), "daily+weekly+monthly");
  EXPECT_EQ(TierList(berlin[1]), "no tier");  // the same local day
  // New Year's Eve 23:30Z is January 1st in Berlin: a new month there, not in UTC.
  std::vector<int64_t> eve = {At("2025-12-31T12:00:00"), At("2025-12-31T23:30:00")};
  EXPECT_EQ(TierList(CalendarTiers(eve, "UTC")[1]), "no tier");
  EXPECT_EQ(TierList(CalendarTiers(eve, "Europe/Berlin")[1]), "daily+monthly");
}

TEST(PolicyTest, IsoWeeksCrossTheYear) {
  // 2026-12-31 (Thu) and 2027-01-01 (Fri) are both in ISO week 2026-W53; 2027-01-04 is W01.
  std::vector<int64_t> starts = {At("2026-12-31T02:00:00"), At("2027-01-01T02:00:00"),
                                 At("2027-01-03T02:00:00"), At("2027-01-04T02:00:00")};
  auto tiers = CalendarTiers(starts, "UTC");
  EXPECT_EQ(TierList(tiers[0]), "daily+weekly+monthly");
  EXPECT_EQ(TierList(tiers[1]), "daily+monthly");
  EXPECT_EQ(TierList(tiers[2]), "daily");
  EXPECT_EQ(TierList(tiers[3]), "daily+weekly");
  EXPECT_EQ(PeriodsAt(At("2027-01-01T02:00:00") / 1000000, "UTC").week, "2026-W53");
}

TEST(PolicyTest, MonthsAreCalendarMonthsInTheZone) {
  // Jan 15 12:00 Berlin (CET, 11:00Z) + 3 months = Apr 15 12:00 Berlin (CEST, 10:00Z).
  Span three{3, 'm'};
  EXPECT_EQ(AddSpan(At("2026-01-15T11:00:00"), three, 1, "Europe/Berlin"),
            At("2026-04-15T10:00:00"));
  EXPECT_EQ(AddSpan(At("2026-01-15T11:00:00"), three, 1, "UTC"), At("2026-04-15T11:00:00"));
  EXPECT_EQ(AddSpan(At("2026-01-31T11:00:00"), Span{1, 'm'}, 1, "UTC"), At("2026-02-28T11:00:00"));
  EXPECT_EQ(AddSpan(At("2024-02-29T11:00:00"), Span{1, 'y'}, 1, "UTC"), At("2025-02-28T11:00:00"));
  EXPECT_EQ(AddSpan(At("2026-03-10T00:00:00"), Span{2, 'm'}, -1, "UTC"), At("2026-01-10T00:00:00"));
}

TEST(PolicyTest, ForcedTierIsJoinedAndDatesTheRetention) {
  Policy p = Gfs();
  std::vector<int64_t> others = {At("2026-03-02T02:00:00")};  // Monday: opened the week
  Stamp s = StampFor(At("2026-03-04T02:00:00"), others, std::nullopt, p);
  EXPECT_EQ(TierList(s.tiers), "daily");
  EXPECT_EQ(s.retention_micros, At("2026-04-03T02:00:00"));
  Stamp forced = StampFor(At("2026-03-04T05:00:00"), others, Tier::kWeekly, p);
  EXPECT_EQ(TierList(forced.tiers), "daily+weekly");
  EXPECT_EQ(forced.retention_micros, At("2026-05-27T05:00:00"));  // 12 weeks
  // A later backup already in the repository does not take the first-of-day place.
  Stamp earlier = StampFor(At("2026-03-02T01:00:00"), others, std::nullopt, p);
  EXPECT_EQ(TierList(earlier.tiers), "daily+weekly+monthly");
}

TEST(PolicyTest, SpansAndZonesAreChecked) {
  EXPECT_EQ(ParseSpan("retention-daily", "30d")->count, 30);
  EXPECT_EQ(ParseSpan("retention-monthly", "7y")->unit, 'y');
  EXPECT_FALSE(ParseSpan("retention-daily", "")->set());
  for (const char* bad : {"30", "d", "0d", "30h", "-1d", "3.5w", "030d"}) {
    auto s = ParseSpan("retention-daily", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Code::kConfig);
    EXPECT_EQ(s.status().message(), fmt::format("bad --retention-daily '{}'", bad));
  }
  EXPECT_TRUE(CheckTimezone("UTC").ok());
  EXPECT_TRUE(CheckTimezone("America/New_York").ok());
  for (const char* bad : {"Mars/Olympus", "../etc/passwd", "/etc/localtime", ""}) {
    Status s = CheckTimezone(bad);
    EXPECT_EQ(s.code(), Code::kConfig) << bad;
    EXPECT_EQ(s.message(), fmt::format("unknown time zone '{}'", bad));
  }
}

}  // namespace
}  // namespace pgvault::retention

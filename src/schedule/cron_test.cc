#include "schedule/cron.h"

#include <gtest/gtest.h>

namespace pgvault::schedule {
namespace {

// "2026-03-29T01:00:00Z" -> unix seconds.
int64_t Utc(const std::string& iso) {
  LocalTime t{std::stoi(iso.substr(0, 4)),  std::stoi(iso.substr(5, 2)),
              std::stoi(iso.substr(8, 2)),  std::stoi(iso.substr(11, 2)),
              std::stoi(iso.substr(14, 2)), std::stoi(iso.substr(17, 2))};
  return NaiveSeconds(t);
}

std::string Iso(int64_t s) {
  LocalTime t = CivilFromSeconds(s);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return buf;
}

std::string NextIn(const std::string& expr, const std::string& zone, const std::string& from) {
  auto cron = CronExpr::Parse(expr);
  EXPECT_TRUE(cron.ok()) << cron.status().message();
  auto tz = TimeZone::Load(zone);
  EXPECT_TRUE(tz.ok());
  auto next = cron->Next(Utc(from), *tz);
  return next ? Iso(*next) : "none";
}

// One expected fire time: the first at or after `from` is `next` ("none": never).
struct NextCase {
  const char* expr;
  const char* zone;
  const char* from;
  const char* next;
};

void ExpectNextFireTimes(std::initializer_list<NextCase> cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(NextIn(c.expr, c.zone, c.from), c.next)
        << c.expr << " in " << c.zone << " from " << c.from;
  }
}

TEST(CronTest, KnownNextFireTimesInUtc) {
  ExpectNextFireTimes({
      {"0 2 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"},
      {"0 2 * * *", "UTC", "2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z"},
      {"*/15 9-17 * * 1-5", "UTC", "2026-06-05T17:50:00Z", "2026-06-08T09:00:00Z"},
      {"5,35 */6 * * *", "UTC", "2026-06-05T06:06:00Z", "2026-06-05T06:35:00Z"},
      {"0 0 1 JAN,jul *", "UTC", "2026-02-10T00:00:00Z", "2026-07-01T00:00:00Z"},
      {"0 3 * * sun", "UTC", "2026-06-01T00:00:00Z", "2026-06-07T03:00:00Z"},
      {"0 3 * * 7", "UTC", "2026-06-01T00:00:00Z", "2026-06-07T03:00:00Z"},
      {"@hourly", "UTC", "2026-06-01T10:59:59Z", "2026-06-01T11:00:00Z"},
      {"@weekly", "UTC", "2026-06-01T00:00:00Z", "2026-06-07T00:00:00Z"},
      {"10-50/20 * * * *", "UTC", "2026-06-01T00:31:00Z", "2026-06-01T00:50:00Z"},
  });
}

TEST(CronTest, MonthEndsAndLeapDay) {
  ExpectNextFireTimes({
      {"0 0 31 * *", "UTC", "2026-02-01T00:00:00Z", "2026-03-31T00:00:00Z"},
      {"0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
      {"0 0 29 2 *", "UTC", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
      {"59 23 28-31 2 *", "UTC", "2028-02-28T23:59:00Z", "2028-02-29T23:59:00Z"},
      {"0 0 1 * *", "UTC", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
      {"0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", "none"},
  });
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  ExpectNextFireTimes({
      // 2026-06-02 is a Tuesday: the next Monday (8th) comes before the 15th.
      {"0 0 1,15 * MON", "UTC", "2026-06-02T00:00:00Z", "2026-06-08T00:00:00Z"},
      {"0 0 1,15 * MON", "UTC", "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"},
      // Both restricted: the 13th or a Friday (2026-01-02).
      {"0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      // A day-of-week starting with '*' (even stepped) means AND: a 13th that is a Sunday.
      {"0 0 13 * */7", "UTC", "2026-01-01T00:00:00Z", "2026-09-13T00:00:00Z"},
      {"0 0 */13 * *", "UTC", "2026-01-02T00:00:00Z", "2026-01-14T00:00:00Z"},
  });
}

TEST(CronTest, SecondsFieldForFastSchedules) {
  ExpectNextFireTimes({
      {"*/5 * * * * *", "UTC", "2026-06-01T00:00:03Z", "2026-06-01T00:00:05Z"},
      {"*/5 * * * * *", "UTC", "2026-06-01T00:00:55Z", "2026-06-01T00:01:00Z"},
  });
}

TEST(CronTest, ZoneOffsetsAndDaylightSavingTime) {
  ExpectNextFireTimes({
      {"0 12 * * *", "America/New_York", "2026-07-01T00:00:00Z", "2026-07-01T16:00:00Z"},
      {"0 12 * * *", "America/New_York", "2026-01-01T00:00:00Z", "2026-01-01T17:00:00Z"},
      // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST. 02:30 does not exist: it fires once,
      // when the clock jumps (03:00 CEST = 01:00Z), then at 02:30 CEST the next day.
      {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
      {"*/20 2 * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"},
      {"*/20 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
      // Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET. 02:30 happens twice: once, first.
      {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
      // Started inside the repeated hour, after the first 02:30: the next day's.
      {"30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", "2026-10-26T01:30:00Z"},
      // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
      {"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
      {"0 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z"},
  });
}

TEST(CronTest, BadExpressionsAreConfigErrorsWithTheField) {
  struct Case {
    const char* expr;
    const char* message;
  } cases[] = {
      {"61 * * * *", "invalid minute field '61' in cron expression '61 * * * *'"},
      {"* * *", "cron expression '* * *' has 3 fields, expected 5"},
      {"0 0 * * MON-FOO",
       "invalid day-of-week field 'MON-FOO' in cron expression '0 0 * * MON-FOO'"},
      {"*/0 * * * *", "invalid minute field '*/0' in cron expression '*/0 * * * *'"},
      {"0 0 0 * *", "invalid day-of-month field '0' in cron expression '0 0 0 * *'"},
      {"0 5-2 * * *", "invalid hour field '5-2' in cron expression '0 5-2 * * *'"},
      {"0 1, * * *", "invalid hour field '1,' in cron expression '0 1, * * *'"},
  };
  for (const auto& c : cases) {
    auto r = CronExpr::Parse(c.expr);
    ASSERT_FALSE(r.ok()) << c.expr;
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_EQ(r.status().message(), c.message);
    EXPECT_FALSE(r.status().hint().empty());
  }
}

TEST(CronTest, UnknownTimeZoneIsAConfigError) {
  auto tz = TimeZone::Load("Mars/Olympus");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.status().message(), "unknown time zone 'Mars/Olympus'");
  EXPECT_FALSE(TimeZone::Load("../etc/passwd").ok());
}

}  // namespace
}  // namespace pgvault::schedule

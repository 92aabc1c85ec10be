// Cron expressions: the standard 5 fields (minute hour day-of-month month day-of-week) with
// lists, ranges, steps and names (JAN-DEC, SUN-SAT; day-of-week 7 is Sunday), the @hourly,
// @daily, @weekly, @monthly and @yearly shorthands, and an optional leading seconds field (6
// fields; for tests and fast schedules). When both day-of-month and day-of-week are restricted
// (neither starts with '*'), a day matches if either does (Vixie cron's rule).
//
// Next fire times are wall-clock times in a time zone. A time that does not exist (the hour
// skipped when daylight saving time starts) fires once, when the clock jumps past it; a time
// that occurs twice (the hour repeated when it ends) fires once, at its first occurrence.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "schedule/time_zone.h"

namespace pgvault::schedule {

class CronExpr {
 public:
  // kConfig with the field and a hint on a bad expression.
  static Result<CronExpr> Parse(const std::string& text);
  const std::string& text() const { return text_; }
  bool Matches(const LocalTime& t) const;
  // The first fire time strictly after unix_seconds, in zone; nullopt when none within 8 years
  // (e.g. "0 0 30 2 *").
  std::optional<int64_t> Next(int64_t unix_seconds, const TimeZone& zone) const;

 private:
  bool DayMatches(const LocalTime& t) const;
  // The first wall-clock time >= t that matches, or nullopt within the search horizon.
  std::optional<LocalTime> NextLocal(LocalTime t) const;
  std::string text_;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_;
  bool dom_star_ = false, dow_star_ = false;
};

}  // namespace pgvault::schedule

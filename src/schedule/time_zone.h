// An IANA time zone for schedules. g++ 12's libstdc++ has no std::chrono::tzdb (GCC 13 adds
// it), so conversions go through glibc: TZ, tzset, localtime_r and mktime under one mutex (TZ is
// process-wide; this class is the only code in pgvault that sets it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace pgvault::schedule {

// A wall-clock time without a zone (the fields a cron expression matches).
struct LocalTime {
  int year = 1970, month = 1, day = 1;  // month 1-12, day 1-31
  int hour = 0, minute = 0, second = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=> (a known bug)
  auto operator<=>(const LocalTime&) const = default;
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms).
int64_t DaysFromCivil(int year, int month, int day);
LocalTime CivilFromSeconds(int64_t naive_seconds);
int64_t NaiveSeconds(const LocalTime& t);  // the wall-clock time read as if it were UTC
int DayOfWeek(const LocalTime& t);         // 0 = Sunday

class TimeZone {
 public:
  // "UTC", or a name under /usr/share/zoneinfo ("Europe/Berlin"); anything else is kConfig.
  static Result<TimeZone> Load(const std::string& name);
  const std::string& name() const { return name_; }
  LocalTime ToLocal(int64_t unix_seconds) const;
  // The earliest instant whose wall-clock reading is the given time (the first of two in a
  // repeated hour, when DST ends), if it is after `after`; nullopt when that first occurrence
  // is not after `after`, or when the time does not exist (a DST gap).
  std::optional<int64_t> FromLocal(const LocalTime& t, int64_t after) const;
  // The first instant whose wall-clock reading is at or after t (the end of a DST gap).
  int64_t FirstAtOrAfter(const LocalTime& t) const;

 private:
  explicit TimeZone(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

}  // namespace pgvault::schedule

// Local calendar arithmetic for retention: which local day, ISO week and month an instant falls
// in, and adding calendar months, in a time zone of the system's tz database
// (/usr/share/zoneinfo). libstdc++ 12 has no std::chrono time zones, so the zone is applied
// through TZ and localtime_r/mktime under a process-wide mutex (TZ is restored afterwards).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pgvault::retention {

// kConfig with a hint when tz is not "UTC" or a zone of the tz database (glibc would silently
// use UTC for an unknown name).
Status CheckTimezone(const std::string& tz);

// The calendar periods of an instant in tz: "2026-03-29", ISO week "2026-W13", month "2026-03".
struct LocalPeriods {
  std::string day, week, month;
};
LocalPeriods PeriodsAt(int64_t unix_seconds, const std::string& tz);

// The same local wall-clock time `months` calendar months later (earlier when negative); a day
// past the end of the target month becomes its last day (Jan 31 + 1 month = Feb 28/29).
int64_t AddMonths(int64_t unix_seconds, int months, const std::string& tz);

}  // namespace pgvault::retention

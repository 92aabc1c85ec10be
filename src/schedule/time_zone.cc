#include "schedule/time_zone.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <mutex>

namespace pgvault::schedule {
namespace {

std::mutex g_tz_mutex;

// Call with g_tz_mutex held: makes the C library convert in zone `name`.
void UseZone(const std::string& name) {
  static std::string current;
  static bool set = false;
  if (set && current == name) return;
  ::setenv("TZ", name.c_str(), 1);
  ::tzset();
  current = name;
  set = true;
}

LocalTime FromTm(const std::tm& tm) {
  return LocalTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
}

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos) return false;
  struct stat st {};
  return ::stat(("/usr/share/zoneinfo/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

int64_t DaysFromCivil(int year, int month, int day) {
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

LocalTime CivilFromSeconds(int64_t s) {
  int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
  int64_t rem = s - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  int y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
  return LocalTime{y,
                   m,
                   d,
                   static_cast<int>(rem / 3600),
                   static_cast<int>(rem % 3600 / 60),
                   static_cast<int>(rem % 60)};
}

int64_t NaiveSeconds(const LocalTime& t) {
  return DaysFromCivil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
}

int DayOfWeek(const LocalTime& t) {
  int64_t days = DaysFromCivil(t.year, t.month, t.day);
  return static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
}

Result<TimeZone> TimeZone::Load(const std::string& name) {
  if (name == "UTC" || ValidName(name)) return TimeZone(name);
  return std::move(Status::Config(fmt::format("unknown time zone '{}'", name)))
      .WithHint("use an IANA name such as 'UTC' or 'Europe/Berlin' (see /usr/share/zoneinfo)");
}

LocalTime TimeZone::ToLocal(int64_t unix_seconds) const {
  std::lock_guard lock(g_tz_mutex);
  UseZone(name_);
  std::time_t t = unix_seconds;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return FromTm(tm);
}

std::optional<int64_t> TimeZone::FromLocal(const LocalTime& t, int64_t after) const {
  std::optional<int64_t> best;
  // Both readings of the wall-clock time (standard and daylight); keep those that round-trip.
  for (int isdst : {0, 1}) {
    int64_t instant = 0;
    {
      std::lock_guard lock(g_tz_mutex);
      UseZone(name_);
      std::tm tm{};
      tm.tm_year = t.year - 1900, tm.tm_mon = t.month - 1, tm.tm_mday = t.day;
      tm.tm_hour = t.hour, tm.tm_min = t.minute, tm.tm_sec = t.second, tm.tm_isdst = isdst;
      instant = ::mktime(&tm);
    }
    if (ToLocal(instant) != t) continue;
    if (!best || instant < *best) best = instant;
  }
  if (best && *best <= after) return std::nullopt;  // its first occurrence has passed
  return best;
}

int64_t TimeZone::FirstAtOrAfter(const LocalTime& t) const {
  // Offsets lie within +-26 hours: search the instants around the naive reading.
  int64_t naive = NaiveSeconds(t);
  int64_t lo = naive - 26 * 3600, hi = naive + 26 * 3600;  // lo reads before t, hi after
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (ToLocal(mid) < t)
      lo = mid;
    else
      hi = mid;
  }
  return hi;
}

}  // namespace pgvault::schedule

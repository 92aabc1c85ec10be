#include "retention/calendar.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>

namespace pgvault::retention {
namespace {

constexpr char kZoneDir[] = "/usr/share/zoneinfo/";

bool IsUtc(const std::string& tz) { return tz == "UTC" || tz == "Etc/UTC"; }

std::mutex& ZoneMutex() {
  static std::mutex mutex;
  return mutex;
}

// Runs fn with TZ set to tz (mktime and localtime_r follow it), then restores TZ.
template <typename Fn>
auto InZone(const std::string& tz, Fn fn) {
  std::lock_guard<std::mutex> lock(ZoneMutex());
  const char* old = std::getenv("TZ");  // NOLINT(concurrency-mt-unsafe): under the mutex
  std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("TZ", tz.c_str(), 1);
  ::tzset();
  auto result = fn();
  if (saved)
    ::setenv("TZ", saved->c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
  return result;
}

std::tm LocalTm(int64_t unix_seconds, const std::string& tz) {
  auto t = static_cast<time_t>(unix_seconds);
  std::tm tm{};
  if (IsUtc(tz)) {
    ::gmtime_r(&t, &tm);
    return tm;
  }
  return InZone(tz, [&] {
    ::localtime_r(&t, &tm);
    return tm;
  });
}

std::string Format(const std::tm& tm, const char* format) {
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

int DaysInMonth(int year, int month0) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month0 == 1 && leap ? 29 : kDays[month0];
}

}  // namespace

Status CheckTimezone(const std::string& tz) {
  if (IsUtc(tz)) return Status::Ok();
  struct stat st {};
  bool plausible = !tz.empty() && tz.front() != '/' && tz.find("..") == std::string::npos;
  if (plausible && ::stat((kZoneDir + tz).c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return Status::Ok();
  return std::move(Status::Config(fmt::format("unknown time zone '{}'", tz)))
      .WithHint(fmt::format(
          "give a zone of the tz database, e.g. --retention-timezone Europe/Berlin (see {})",
          kZoneDir));
}

LocalPeriods PeriodsAt(int64_t unix_seconds, const std::string& tz) {
  std::tm tm = LocalTm(unix_seconds, tz);
  return {Format(tm, "%Y-%m-%d"), Format(tm, "%G-W%V"), Format(tm, "%Y-%m")};
}

int64_t AddMonths(int64_t unix_seconds, int months, const std::string& tz) {
  std::tm tm = LocalTm(unix_seconds, tz);
  int total = tm.tm_year * 12 + tm.tm_mon + months;
  int year = total >= 0 ? total / 12 : (total - 11) / 12;
  tm.tm_year = year;
  tm.tm_mon = total - year * 12;
  tm.tm_mday = std::min(tm.tm_mday, DaysInMonth(tm.tm_year + 1900, tm.tm_mon));
  tm.tm_isdst = -1;
  if (IsUtc(tz)) return static_cast<int64_t>(::timegm(&tm));
  return InZone(tz, [&] { return static_cast<int64_t>(::mktime(&tm)); });
}

}  // namespace pgvault::retention

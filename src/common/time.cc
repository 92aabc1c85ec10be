#include "common/time.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace pgvault {

int64_t NowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

static std::tm ToTm(int64_t unix_micros) {
  std::time_t t = unix_micros / 1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

std::string FormatIsoMicros(int64_t unix_micros) {
  std::tm tm = ToTm(unix_micros);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_micros % 1000000);
}

std::string FormatIsoSeconds(int64_t unix_seconds) {
  std::tm tm = ToTm(unix_seconds * 1000000);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string FormatCompact(int64_t unix_micros) {
  std::tm tm = ToTm(unix_micros);
  return fmt::format("{:04}{:02}{:02}-{:02}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace pgvault

// Wall-clock helpers: all times pgvault stores are UTC, formatted as ISO 8601.
#pragma once

#include <cstdint>
#include <string>

namespace pgvault {

int64_t NowUnixMicros();
// "2026-11-28T21:04:23.123456Z"
std::string FormatIsoMicros(int64_t unix_micros);
// "2026-11-28T21:04:23Z"
std::string FormatIsoSeconds(int64_t unix_seconds);
// "20261128-210423" (used in backup ids).
std::string FormatCompact(int64_t unix_micros);
double MonotonicSeconds();

}  // namespace pgvault

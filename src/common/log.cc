#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace pgvault::log {
namespace {
std::atomic<Level> g_level{Level::kWarn};
}

void SetLevel(Level level) { g_level = level; }
Level GetLevel() { return g_level; }

bool ParseLevel(std::string_view name, Level& level) {
  if (name == "debug")
    level = Level::kDebug;
  else if (name == "info")
    level = Level::kInfo;
  else if (name == "warn")
    level = Level::kWarn;
  else if (name == "error")
    level = Level::kError;
  else if (name == "off")
    level = Level::kOff;
  else
    return false;
  return true;
}

void Write(Level level, std::string_view message) {
  static const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::string line = fmt::format("{} pgvault[{}] {}: {}\n", stamp, getpid(),
                                 kNames[static_cast<int>(level)], message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Abort(std::string_view message) {
  Write(Level::kError,
        fmt::format("{} (aborting: this is not a usage error; please report it)", message));
  std::abort();
}

}  // namespace pgvault::log

#include "daemon/event_log.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/time.h"

namespace pgvault::daemon {
namespace {
std::atomic<bool> g_json{false};
std::mutex g_write_mutex;
}  // namespace

void SetJsonLog(bool json) { g_json = json; }

void LogEvent(std::string_view level, std::string_view event, const Fields& fields) {
  std::string time = FormatIsoMicros(NowUnixMicros());
  std::string line;
  if (g_json) {
    nlohmann::ordered_json j = {{"time", time}, {"level", level}, {"event", event}};
    for (const auto& [k, v] : fields) j[k] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    line = fmt::format("{} pgvault[{}] {}: event={}", time, ::getpid(), level, event);
    for (const auto& [k, v] : fields)
      line += v.find_first_of(" \"=") == std::string::npos ? fmt::format(" {}={}", k, v)
                                                           : fmt::format(" {}={:?}", k, v);
    line += "\n";
  }
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::string CodeName(Code code) {
  static const char* kNames[] = {"ok",     "not_found",  "invalid_argument", "config",
                                 "io",     "corruption", "unavailable",      "conflict",
                                 "crypto", "pg",         "internal"};
  auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

}  // namespace pgvault::daemon

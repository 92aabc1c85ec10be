// Minimal leveled logging to stderr. Never log keys, passphrases or credentials.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace pgvault::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug|info|warn|error|off"; returns false for anything else.
bool ParseLevel(std::string_view name, Level& level);
void Write(Level level, std::string_view message);
// Writes message at any log level and aborts the process. Only for states no caller can handle
// (memory exhaustion, a broken library, a violated invariant): never for a user's error, which
// is a Status.
[[noreturn]] void Abort(std::string_view message);

template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (GetLevel() <= Level::kDebug)
    Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (GetLevel() <= Level::kInfo) Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  if (GetLevel() <= Level::kWarn) Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
// For background processes, whose log file is the only place their failures show up; commands
// return a Status instead, and cli/ prints it.
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  if (GetLevel() <= Level::kError)
    Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace pgvault::log

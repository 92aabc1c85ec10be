// What pgvault's exit codes mean (src/common/status.h, docs/user-guide.md "Errors and exit
// codes"), and stderr without its log lines, for tests that assert both.
#pragma once

#include <string>
#include <vector>

namespace pgvault::test {

inline constexpr int kExitNotFound = 1;
inline constexpr int kExitInvalidArgument = 2;
inline constexpr int kExitConfig = 3;
inline constexpr int kExitIo = 4;
inline constexpr int kExitCorruption = 5;
inline constexpr int kExitUnavailable = 6;
inline constexpr int kExitConflict = 7;
inline constexpr int kExitCrypto = 8;
inline constexpr int kExitPg = 9;
inline constexpr int kExitCheckFailed = 12;
inline constexpr int kExitStopRecovery = 200;  // archive-get: PostgreSQL stops recovery

// stderr without pgvault's log lines ("2026-01-01 00:00:00 pgvault[123] WARN: ..."), e.g. the
// warning that restore_command relies on the server's environment.
inline std::string ErrorText(const std::string& err) {
  std::string out;
  size_t start = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    end = end == std::string::npos ? err.size() : end + 1;
    std::string line = err.substr(start, end - start);
    bool log_line = line.size() > 20 && line[4] == '-' && line.find(" pgvault[") == 19;
    if (!log_line) out += line;
    start = end;
  }
  return out;
}

// The non-empty lines of ErrorText(err): the error, then its hints.
inline std::vector<std::string> ErrorLines(const std::string& err) {
  std::vector<std::string> lines;
  std::string text = ErrorText(err);
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace pgvault::test

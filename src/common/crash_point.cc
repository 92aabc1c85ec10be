#include "common/crash_point.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace pgvault {
namespace {

struct Arming {
  uint64_t at = 0;  // 0: unarmed
  CrashKind counted = CrashKind::kAfterWrite;
  std::string once_file;  // "": every run that reaches `at` dies
};

// Read once, before any worker thread can pass a crash point (the first OpenStorage or restore
// step runs on the main thread).
const Arming& Armed() {
  static const Arming arming = [] {
    Arming a;
    // NOLINTBEGIN(concurrency-mt-unsafe): read once, before pgvault starts threads
    const char* at = std::getenv("PGVAULT_TEST_CRASH_AT");
    const char* mid = std::getenv("PGVAULT_TEST_CRASH_MID");
    const char* once = std::getenv("PGVAULT_TEST_CRASH_ONCE");
    // NOLINTEND(concurrency-mt-unsafe)
    if (at != nullptr) std::from_chars(at, at + std::strlen(at), a.at);
    if (mid != nullptr && std::string_view(mid) == "1") a.counted = CrashKind::kMidWrite;
    if (once != nullptr) a.once_file = once;
    return a;
  }();
  return arming;
}

std::atomic<uint64_t> passed{0};

}  // namespace

bool CrashPointsArmed() { return Armed().at != 0; }

void CrashPoint(std::string_view what, CrashKind kind) {
  const Arming& armed = Armed();
  if (armed.at == 0 || kind != armed.counted) return;
  uint64_t n = passed.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n != armed.at) return;
  if (!armed.once_file.empty()) {
    int fd = ::open(armed.once_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return;  // an earlier process died here already
    ::close(fd);
  }
  std::string line = fmt::format("crash point {}: {}\n", n, what);
  // One write(2), then SIGKILL: nothing else of the process runs (no destructors, no flush).
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

}  // namespace pgvault

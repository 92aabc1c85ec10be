#include "common/crash_point.h"

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

// 0 when unarmed; read once, before any worker thread can pass a crash point (the first
// OpenStorage or restore step runs on the main thread).
uint64_t ArmedAt() {
  static const uint64_t at = [] {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before pgvault starts threads
    const char* text = std::getenv("PGVAULT_TEST_CRASH_AT");
    uint64_t n = 0;
    if (text != nullptr) std::from_chars(text, text + std::strlen(text), n);
    return n;
  }();
  return at;
}

std::atomic<uint64_t> passed{0};

}  // namespace

bool CrashPointsArmed() { return ArmedAt() != 0; }

void CrashPoint(std::string_view what) {
  uint64_t at = ArmedAt();
  if (at == 0) return;
  uint64_t n = passed.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n != at) return;
  std::string line = fmt::format("crash point {}: {}\n", n, what);
  // One write(2), then SIGKILL: nothing else of the process runs (no destructors, no flush).
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

}  // namespace pgvault

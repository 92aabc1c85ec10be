// Progress: how long-running commands report how far they are. The CLI supplies a progress bar
// on a terminal and a silent one otherwise; logic never prints directly.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgvault {

class Progress {
 public:
  virtual ~Progress() = default;
  // Thread-safe; called often, implementations throttle.
  virtual void Update(uint64_t done_bytes, uint64_t total_bytes) = 0;
  virtual void Finish() = 0;
};

class NoProgress : public Progress {
 public:
  void Update(uint64_t, uint64_t) override {}
  void Finish() override {}
};

}  // namespace pgvault

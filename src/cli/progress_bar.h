// A one-line progress bar on stderr, redrawn at most 5 times a second; only used on a terminal.
#pragma once

#include <atomic>
#include <mutex>

#include "common/progress.h"

namespace pgvault::cli {

class ProgressBar : public Progress {
 public:
  explicit ProgressBar(const char* label) : label_(label) {}
  void Update(uint64_t done_bytes, uint64_t total_bytes) override;
  void Finish() override;

 private:
  const char* label_;
  std::mutex mu_;
  double start_ = -1, last_draw_ = 0;
  bool drawn_ = false;
};

}  // namespace pgvault::cli

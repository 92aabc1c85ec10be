#include "cli/progress_bar.h"

#include <fmt/format.h>

#include <cstdio>

#include "common/time.h"

namespace pgvault::cli {

void ProgressBar::Update(uint64_t done, uint64_t total) {
  double now = MonotonicSeconds();
  std::lock_guard lock(mu_);
  if (start_ < 0) start_ = now;
  if (now - last_draw_ < 0.2) return;
  last_draw_ = now;
  double frac = total ? std::min(1.0, static_cast<double>(done) / total) : 0;
  int filled = static_cast<int>(frac * 30);
  double rate = now > start_ ? done / 1e6 / (now - start_) : 0;
  std::string bar = fmt::format("\r{} [{}{}] {:3.0f}% {:.0f}/{:.0f} MB {:.0f} MB/s ", label_,
                                std::string(filled, '#'), std::string(30 - filled, '.'), frac * 100,
                                done / 1e6, total / 1e6, rate);
  std::fputs(bar.c_str(), stderr);
  drawn_ = true;
}

void ProgressBar::Finish() {
  std::lock_guard lock(mu_);
  if (drawn_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
}

}  // namespace pgvault::cli

#include "backup/page_check.h"

#include <algorithm>
#include <cstring>

#include "common/bytes.h"
#include "common/file.h"
#include "common/log.h"
#include "pg/page_checksum.h"

namespace pgvault::backup {

void PageErrors::Add(repo::PageChecksumError error) {
  uint64_t n = ++failed_;
  if (n <= kLoggedPages)
    log::Warn("page checksum mismatch in '{}' block {}: stored {}, computed {}", error.path,
              error.block, error.stored, error.computed);
  std::lock_guard lock(mu_);
  if (kept_.size() < repo::kMaxPageChecksumErrors) kept_.push_back(std::move(error));
}

std::vector<repo::PageChecksumError> PageErrors::Finish() {
  std::lock_guard lock(mu_);
  std::sort(kept_.begin(), kept_.end(), [](const auto& a, const auto& b) {
    return a.path != b.path ? a.path < b.path : a.block < b.block;
  });
  if (failed_ > kLoggedPages)
    log::Warn(
        "{} more pages failed their checksum ({} in all); 'pgvault info --json' lists up "
        "to {}",
        failed_ - kLoggedPages, failed_.load(), repo::kMaxPageChecksumErrors);
  return kept_;
}

namespace {

// Re-reads a page that failed: PostgreSQL may have been writing it while it was read (a torn
// read). Returns the verdict on what was read back and copies it over the page unless it
// failed again or the file no longer reaches that far.
Result<pg::PageCheck> Recheck(const PageCheckConfig& config, const std::string& path, int fd,
                              uint64_t offset, uint8_t* page, uint32_t block) {
  thread_local Bytes again;
  if (again.size() < config.page_size) again.resize(config.page_size);
  std::span<uint8_t> buf(again.data(), config.page_size);
  size_t filled;
  PGV_ASSIGN_OR_RETURN(filled, PreadFull(fd, buf, offset, path));
  if (filled < config.page_size) return pg::PageCheck{.verdict = pg::PageVerdict::kNew};
  pg::PageCheck check = pg::CheckPage(buf.data(), config.page_size, block, config.start_lsn);
  if (check.verdict != pg::PageVerdict::kMismatch) std::memcpy(page, buf.data(), config.page_size);
  return check;
}

}  // namespace

Status CheckPages(const PageCheckConfig& config, const std::string& path, int fd,
                  uint64_t file_offset, std::span<uint8_t> buf) {
  if (!pg::HasPageChecksums(path)) return Status::Ok();
  const uint64_t page_size = config.page_size;
  const uint64_t segment_first = pg::RelationSegment(path) * config.pages_per_segment;
  // The first whole page in buf (buf starts on a page boundary unless the repository's blocks
  // are smaller than a page and the slice starts mid-page).
  uint64_t pos = (page_size - file_offset % page_size) % page_size;
  uint64_t checked = 0;
  for (; pos + page_size <= buf.size(); pos += page_size) {
    uint8_t* page = buf.data() + pos;
    uint32_t block = static_cast<uint32_t>(segment_first + (file_offset + pos) / page_size);
    pg::PageCheck check = pg::CheckPage(page, page_size, block, config.start_lsn);
    if (check.verdict == pg::PageVerdict::kMismatch) {
      PGV_ASSIGN_OR_RETURN(check, Recheck(config, path, fd, file_offset + pos, page, block));
    }
    if (check.verdict == pg::PageVerdict::kOk || check.verdict == pg::PageVerdict::kMismatch)
      checked++;
    if (check.verdict == pg::PageVerdict::kMismatch)
      config.errors->Add(
          {.path = path, .block = block, .stored = check.stored, .computed = check.computed});
  }
  if (checked > 0) *config.pages_checked += checked;
  return Status::Ok();
}

}  // namespace pgvault::backup

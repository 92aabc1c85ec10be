// Checks the data page checksums of the relation files a backup reads, as PostgreSQL's own base
// backup does (docs/design.md, "Page checksums"): every page of a file under base/, global/ or
// pg_tblspc/ (pg::HasPageChecksums) whose LSN is before the backup's start; a page that fails is
// re-read once, since PostgreSQL may have been writing it, and reported only if it fails again.
// The backup stores the page as read and completes; the failures go into the manifest.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "repo/manifest.h"

namespace pgvault::backup {

// The failures of one backup, from all workers. Logs the first kLoggedPages with WARN, keeps the
// first repo::kMaxPageChecksumErrors for the manifest and counts them all. Thread-safe.
class PageErrors {
 public:
  static constexpr uint64_t kLoggedPages = 20;
  void Add(repo::PageChecksumError error);
  uint64_t failed() const { return failed_.load(); }
  // The kept errors sorted by path and block; ends with a WARN line when some were not logged.
  std::vector<repo::PageChecksumError> Finish();

 private:
  std::mutex mu_;
  std::vector<repo::PageChecksumError> kept_;
  std::atomic<uint64_t> failed_{0};
};

// What a backup checks pages against; shared by its workers.
struct PageCheckConfig {
  uint32_t page_size = 8192;            // the server's block_size
  uint64_t pages_per_segment = 131072;  // the server's segment_size / block_size
  uint64_t start_lsn = 0;               // pages at or past it are being rewritten: not checked
  PageErrors* errors = nullptr;
  std::atomic<uint64_t>* pages_checked = nullptr;
};

// Checks the whole pages of buf, which holds a file's bytes from file_offset (path relative to
// the data directory; fd is open on it for the re-read). A page that fails and reads back
// consistent (or newer than the start LSN) is replaced in buf by what was read back. Pages cut
// by the end of buf are left unchecked. Allocates nothing per page.
Status CheckPages(const PageCheckConfig& config, const std::string& path, int fd,
                  uint64_t file_offset, std::span<uint8_t> buf);

}  // namespace pgvault::backup

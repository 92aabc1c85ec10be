// Reads a data directory file for the backup, slice by slice, either through the page cache or
// around it with O_DIRECT (docs/design.md, "Reading around the page cache"). A cold read through
// the page cache costs the kernel a page allocation, often a reclaim, and a copy per 4 KiB:
// measured here, 1.2-2 CPU seconds of system time per GB against 0.06 with O_DIRECT, and it
// evicts what PostgreSQL had cached. A slice whose pages are mostly cached already (mincore) is
// read through the cache, where it costs only the copy.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"

namespace pgvault::backup {

enum class DirectIo { kAuto, kOn, kOff };

// "auto", "on", "off" (--direct-io); false for anything else.
bool ParseDirectIo(std::string_view name, DirectIo& out);

// Alignment O_DIRECT asks of buffers, offsets and lengths: every Linux file system and device
// accepts 4 KiB.
inline constexpr size_t kDirectAlign = 4096;

// A buffer of at least n bytes aligned for O_DIRECT, kept per thread and grown, never shrunk:
// the same buffer serves the thread's next file. Not zero-filled.
std::span<uint8_t> ThreadSliceBuffer(size_t n);

class SourceReader {
 public:
  // fd stays owned by the caller and is left in buffered mode after every Read.
  SourceReader(int fd, std::string path, DirectIo mode, uint64_t file_size);

  // Fills buf from offset on; fewer bytes only when the file ends. Slices of at least
  // kMinDirectRead bytes, aligned to kDirectAlign, may be read with O_DIRECT; a file system
  // that refuses it (tmpfs on older kernels, some FUSE) is read through the cache instead.
  Result<size_t> Read(std::span<uint8_t> buf, uint64_t offset);

  // Bytes Read returned that came around the page cache.
  uint64_t direct_bytes() const { return direct_bytes_; }

  static constexpr size_t kMinDirectRead = 1 << 20;

 private:
  bool WantDirect(std::span<uint8_t> buf, uint64_t offset) const;
  bool SetDirect(bool on);

  int fd_;
  std::string path_;
  DirectIo mode_;
  uint64_t file_size_;
  bool direct_refused_ = false;
  uint64_t direct_bytes_ = 0;
};

}  // namespace pgvault::backup

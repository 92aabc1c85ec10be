// O_DIRECT helpers: reading and writing a data directory around the page cache
// (docs/design.md, "Reading and writing around the page cache"). O_DIRECT goes on a second
// descriptor of the same file (ReopenDirect), never on the caller's: F_SETFL would change the
// open file for every thread sharing it (restore's ranges of one file do), and a buffered pwrite
// of a file's unaligned tail would then fail with EINVAL.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/file.h"
#include "common/status.h"

namespace pgvault {

// Alignment O_DIRECT asks of buffers, offsets and lengths: every Linux file system and device
// accepts 4 KiB.
inline constexpr size_t kDirectAlign = 4096;

inline bool DirectAligned(const void* data, size_t size, uint64_t offset) {
  return reinterpret_cast<uintptr_t>(data) % kDirectAlign == 0 && size % kDirectAlign == 0 &&
         offset % kDirectAlign == 0;
}

// A new O_DIRECT descriptor of the file fd has open (through /proc/self/fd: the same inode,
// whatever happened to its name since), opened with flags (O_RDONLY or O_WRONLY). Invalid when
// the file system refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6, some FUSE) or /proc is
// missing: the caller then stays with the page cache.
UniqueFd ReopenDirect(int fd, int flags);

enum class DirectIo { kAuto, kOn, kOff };

// "auto", "on", "off" (--direct-io); false for anything else.
bool ParseDirectIo(std::string_view name, DirectIo& out);

// Memory aligned for O_DIRECT, grown on demand, never shrunk, not zero-filled.
class AlignedBuffer {
 public:
  std::span<uint8_t> Get(size_t n);

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t capacity_ = 0;
};

// Reads a file slice by slice, through the page cache or around it. A cold read through the
// cache costs the kernel a page allocation, often a reclaim, and a copy per 4 KiB: measured
// here, 1.2-2 CPU seconds of system time per GB against 0.06 with O_DIRECT, and it evicts what
// PostgreSQL had cached. kAuto reads a slice with O_DIRECT when less than half of its pages are
// in the cache (mincore), through the cache otherwise, where it costs only the copy.
class DirectReader {
 public:
  // fd stays the caller's; the O_DIRECT descriptor is opened on first use.
  DirectReader(int fd, std::string path, DirectIo mode, uint64_t file_size);

  // Fills buf from offset on; fewer bytes only when the file ends. Slices of at least
  // kMinDirectRead bytes, aligned to kDirectAlign, may be read with O_DIRECT; a file system
  // that refuses it is read through the cache instead.
  Result<size_t> Read(std::span<uint8_t> buf, uint64_t offset);

  // Bytes Read returned that came around the page cache.
  uint64_t direct_bytes() const { return direct_bytes_; }

  static constexpr size_t kMinDirectRead = 1 << 20;

 private:
  bool WantDirect(std::span<uint8_t> buf, uint64_t offset);

  int fd_;
  std::string path_;
  DirectIo mode_;
  uint64_t file_size_;
  UniqueFd direct_;
  bool refused_ = false;
  uint64_t direct_bytes_ = 0;
};

// Writes the pieces of one file, in increasing offsets, with O_DIRECT: consecutive aligned
// pieces gather in an aligned chunk of kChunkBytes (a 128 KiB O_DIRECT write reached 0.7 GB/s
// here, 1 MiB 1.7 GB/s); a piece that is not aligned, or does not continue the chunk, is written
// through fd (the page cache) after the chunk. A file system that refuses O_DIRECT gets every
// piece through the cache.
class DirectWriter {
 public:
  static constexpr size_t kChunkBytes = 2 << 20;
  DirectWriter(int fd, std::string path, AlignedBuffer& chunk);
  Status Write(ByteView data, uint64_t offset);
  // Writes what the chunk holds. Call at the end (and before fd is otherwise used for the same
  // bytes).
  Status Flush();
  uint64_t direct_bytes() const { return direct_bytes_; }

 private:
  int fd_;
  std::string path_;
  std::span<uint8_t> chunk_;
  size_t filled_ = 0;
  uint64_t chunk_offset_ = 0;
  UniqueFd direct_;
  bool refused_ = false;
  uint64_t direct_bytes_ = 0;
};

}  // namespace pgvault

// A grow-only byte buffer for whole WAL segments, in anonymous memory that asks for transparent
// huge pages: a fresh archive-push process then faults in 8 pages of 2 MiB for a 16 MiB segment
// instead of 4096 of 4 KiB, and nothing is zero-filled twice (a std::vector is filled by the
// process and then again by the kernel). Measured with perf on archive-push: the page faults of
// the read buffer cost more than the read's copy. Not thread-safe; contents are undefined until
// written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace pgvault {

class LargeBuffer {
 public:
  LargeBuffer() = default;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;
  ~LargeBuffer();

  // Makes room for size bytes (earlier contents are not kept); span() then has that size.
  // kIo when the memory cannot be mapped.
  Status Resize(size_t size);
  std::span<uint8_t> span() { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace pgvault

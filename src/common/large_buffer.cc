#include "common/large_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"

namespace pgvault {
namespace {
constexpr size_t kHugePage = 2 << 20;
}  // namespace

LargeBuffer::~LargeBuffer() {
  if (data_) ::munmap(data_, capacity_);
}

Status LargeBuffer::Resize(size_t size) {
  if (size > capacity_) {
    size_t capacity = (size + kHugePage - 1) / kHugePage * kHugePage;
    // One huge page more than needed, so that the start can be aligned to one.
    size_t mapped = capacity + kHugePage;
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return ErrnoStatus("cannot map a buffer of", std::to_string(size), errno);
    // Pointer arithmetic on the mapping's bytes: trim the unaligned head and the spare tail.
    auto* base = static_cast<uint8_t*>(p);
    size_t head = (kHugePage - reinterpret_cast<uintptr_t>(base) % kHugePage) % kHugePage;
    uint8_t* aligned = base + head;
    if (head > 0) ::munmap(base, head);
    size_t tail = mapped - head - capacity;
    if (tail > 0) ::munmap(aligned + capacity, tail);
    // A hint: without transparent huge pages the buffer simply uses small pages.
    ::madvise(aligned, capacity, MADV_HUGEPAGE);
    if (data_) ::munmap(data_, capacity_);
    data_ = aligned;
    capacity_ = capacity;
  }
  size_ = size;
  return Status::Ok();
}

}  // namespace pgvault

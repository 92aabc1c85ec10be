#include "backup/source_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "common/file.h"

namespace pgvault::backup {
namespace {

// Whether at least half of [offset, offset + len) is in the page cache. mincore on a mapping
// of the range neither reads nor maps a page in. Unknown (mmap refused) counts as cached: the
// buffered read is always correct.
bool MostlyCached(int fd, uint64_t offset, size_t len) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (map == MAP_FAILED) return true;
  std::vector<unsigned char> resident((len + page - 1) / page);
  int rc = ::mincore(map, len, resident.data());
  ::munmap(map, len);
  if (rc != 0) return true;
  size_t cached = 0;
  for (unsigned char r : resident) cached += r & 1;
  return cached * 2 >= resident.size();
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

}  // namespace

bool ParseDirectIo(std::string_view name, DirectIo& out) {
  if (name == "auto")
    out = DirectIo::kAuto;
  else if (name == "on")
    out = DirectIo::kOn;
  else if (name == "off")
    out = DirectIo::kOff;
  else
    return false;
  return true;
}

std::span<uint8_t> ThreadSliceBuffer(size_t n) {
  thread_local std::unique_ptr<uint8_t, FreeDeleter> buffer;
  thread_local size_t capacity = 0;
  if (capacity < n) {
    size_t rounded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    buffer.reset(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, rounded)));
    // An allocation failure is a bug-level condition here (8 MiB); fail loudly, not subtly.
    if (!buffer) std::abort();
    capacity = rounded;
  }
  return {buffer.get(), n};
}

SourceReader::SourceReader(int fd, std::string path, DirectIo mode, uint64_t file_size)
    : fd_(fd), path_(std::move(path)), mode_(mode), file_size_(file_size) {}

bool SourceReader::WantDirect(std::span<uint8_t> buf, uint64_t offset) const {
  if (mode_ == DirectIo::kOff || direct_refused_) return false;
  if (buf.size() < kMinDirectRead || buf.size() % kDirectAlign != 0 || offset % kDirectAlign != 0 ||
      reinterpret_cast<uintptr_t>(buf.data()) % kDirectAlign != 0)
    return false;
  if (mode_ == DirectIo::kOn) return true;
  if (offset >= file_size_) return false;  // a file that grew: its new end is in the cache
  return !MostlyCached(fd_, offset, std::min<uint64_t>(buf.size(), file_size_ - offset));
}

// Linux switches O_DIRECT on an open descriptor with F_SETFL; pread has no file position, so
// the switch affects only this reader's own reads.
bool SourceReader::SetDirect(bool on) {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) return false;
  int wanted = on ? flags | O_DIRECT : flags & ~O_DIRECT;
  return wanted == flags || ::fcntl(fd_, F_SETFL, wanted) == 0;
}

Result<size_t> SourceReader::Read(std::span<uint8_t> buf, uint64_t offset) {
  size_t done = 0;
  if (WantDirect(buf, offset)) {
    if (!SetDirect(true)) {
      direct_refused_ = true;
    } else {
      // Reads whole aligned pieces; a short read (the end of the file, not a multiple of 4 KiB
      // away) or a refusal leaves the rest to the buffered read below, which also returns 0 at
      // the end of the file.
      while (done < buf.size()) {
        ssize_t n =
            ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EINVAL) {
          direct_refused_ = true;
          break;
        }
        if (n < 0) {
          int err = errno;
          SetDirect(false);
          return ErrnoStatus("cannot read", path_, err);
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
        direct_bytes_ += static_cast<size_t>(n);
        if (done % kDirectAlign != 0) break;
      }
      if (!SetDirect(false)) return ErrnoStatus("cannot read", path_, errno);
      if (done == buf.size()) return done;
    }
  }
  size_t rest;
  PGV_ASSIGN_OR_RETURN(rest, PreadFull(fd_, buf.subspan(done), offset + done, path_));
  return done + rest;
}

}  // namespace pgvault::backup

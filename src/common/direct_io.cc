#include "common/direct_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pgvault {
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

// Transfers whole aligned pieces with O_DIRECT (pread or pwrite) until done, a short transfer
// (the end of the file: not a multiple of 4 KiB away) or an error. Returns the bytes moved;
// err is 0, or the errno that stopped it.
template <typename Io>
size_t DirectLoop(Io io, size_t size, int& err) {
  err = 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = io(done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
    if (done % kDirectAlign != 0) break;
  }
  return done;
}

// What a DirectLoop's err means: EINVAL is a file system that took O_DIRECT at open but not at
// the transfer (the caller goes on through the page cache, refused from then on); anything else
// is the error of the read or write.
Status Settle(int err, const char* what, const std::string& path, bool& refused) {
  if (err == EINVAL) {
    refused = true;
    return Status::Ok();
  }
  return err != 0 ? ErrnoStatus(what, path, err) : Status::Ok();
}

}  // namespace

UniqueFd ReopenDirect(int fd, int flags) {
  std::string self = fmt::format("/proc/self/fd/{}", fd);
  return UniqueFd(::open(self.c_str(), flags | O_DIRECT | O_CLOEXEC));
}

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

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

std::span<uint8_t> AlignedBuffer::Get(size_t n) {
  if (capacity_ < n) {
    size_t rounded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    data_.reset(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, rounded)));
    // A few MiB: failing here is out of memory, which the rest of pgvault treats as fatal too.
    if (!data_) std::abort();
    capacity_ = rounded;
  }
  return {data_.get(), n};
}

DirectReader::DirectReader(int fd, std::string path, DirectIo mode, uint64_t file_size)
    : fd_(fd), path_(std::move(path)), mode_(mode), file_size_(file_size) {}

bool DirectReader::WantDirect(std::span<uint8_t> buf, uint64_t offset) {
  if (mode_ == DirectIo::kOff || refused_) return false;
  if (buf.size() < kMinDirectRead || !DirectAligned(buf.data(), buf.size(), offset)) return false;
  if (mode_ == DirectIo::kAuto) {
    if (offset >= file_size_) return false;  // a file that grew: its new end is in the cache
    if (MostlyCached(fd_, offset, std::min<uint64_t>(buf.size(), file_size_ - offset)))
      return false;
  }
  if (!direct_) direct_ = ReopenDirect(fd_, O_RDONLY);
  refused_ = !direct_;
  return !refused_;
}

Result<size_t> DirectReader::Read(std::span<uint8_t> buf, uint64_t offset) {
  size_t done = 0;
  if (WantDirect(buf, offset)) {
    int err;
    done = DirectLoop(
        [&](size_t at) {
          return ::pread(direct_.get(), buf.data() + at, buf.size() - at,
                         static_cast<off_t>(offset + at));
        },
        buf.size(), err);
    direct_bytes_ += done;
    PGV_RETURN_IF_ERROR(Settle(err, "cannot read", path_, refused_));
    if (done == buf.size()) return done;
  }
  // The rest through the cache; at the end of the file this returns 0.
  size_t rest;
  PGV_ASSIGN_OR_RETURN(rest, PreadFull(fd_, buf.subspan(done), offset + done, path_));
  return done + rest;
}

DirectWriter::DirectWriter(int fd, std::string path, AlignedBuffer& chunk)
    : fd_(fd), path_(std::move(path)), chunk_(chunk.Get(kChunkBytes)) {}

Status DirectWriter::Write(ByteView data, uint64_t offset) {
  bool aligned = data.size() % kDirectAlign == 0 && offset % kDirectAlign == 0;
  if (!refused_ && aligned && data.size() <= chunk_.size()) {
    bool continues = filled_ > 0 && offset == chunk_offset_ + filled_;
    if (filled_ > 0 && (!continues || filled_ + data.size() > chunk_.size()))
      PGV_RETURN_IF_ERROR(Flush());
    if (filled_ == 0) chunk_offset_ = offset;
    std::memcpy(chunk_.data() + filled_, data.data(), data.size());
    filled_ += data.size();
    return Status::Ok();
  }
  PGV_RETURN_IF_ERROR(Flush());
  return PwriteFull(fd_, data, offset, path_);
}

Status DirectWriter::Flush() {
  if (filled_ == 0) return Status::Ok();
  ByteView data(chunk_.data(), filled_);
  uint64_t offset = chunk_offset_;
  filled_ = 0;
  if (!refused_ && !direct_) {
    direct_ = ReopenDirect(fd_, O_WRONLY);
    refused_ = !direct_;
  }
  if (!refused_) {
    int err;
    size_t done = DirectLoop(
        [&](size_t at) {
          return ::pwrite(direct_.get(), data.data() + at, data.size() - at,
                          static_cast<off_t>(offset + at));
        },
        data.size(), err);
    direct_bytes_ += done;
    PGV_RETURN_IF_ERROR(Settle(err, "cannot write", path_, refused_));
    data = data.subspan(done);
    offset += done;
  }
  return PwriteFull(fd_, data, offset, path_);
}

}  // namespace pgvault

// FileRestorer's delta mode (restore --delta): a job reads its share of the existing file with
// one pread, computes every block's keyed id the way backup did (HMAC-SHA-256 of the block with
// the repository's id key; an all-zero block has no id and is compared as zeros) and fetches from
// the repository only the blocks whose id differs, with one BlockReader call per job so that
// neighbouring changed blobs still come in one ranged read. An unchanged file costs its read and
// hash; nothing is written into it but its times.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/direct_io.h"
#include "common/file.h"
#include "restore/file_restorer.h"

namespace pgvault::restore {
namespace {

bool AllZero(const uint8_t* p, size_t n) {
  uint64_t word;
  size_t idx = 0;
  for (; idx + 8 <= n; idx += 8) {
    std::memcpy(&word, p + idx, 8);
    if (word != 0) return false;
  }
  for (; idx < n; ++idx)
    if (p[idx] != 0) return false;
  return true;
}

}  // namespace

struct FileRestorer::Wanted {
  Target* file;
  size_t block_idx;
};

// O_NOFOLLOW: the clean-up before the files removed every link but tablespaces' and pg_wal's,
// so a link here was planted meanwhile; refuse to write through it.
Status FileRestorer::OpenExisting(Target& file) {
  file.fd.reset(::open(file.path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                       file.entry.mode & 07777));
  if (!file.fd) return ErrnoStatus("cannot open", file.path, errno);
  struct stat st;
  if (::fstat(file.fd.get(), &st) != 0) return ErrnoStatus("cannot stat", file.path, errno);
  if (!S_ISREG(st.st_mode)) return Status::Io(fmt::format("'{}' is not a file", file.path));
  file.trusted = options_.delta_by_time && static_cast<uint64_t>(st.st_size) == file.entry.size &&
                 st.st_mtim.tv_sec == file.entry.mtime;
  return Status::Ok();
}

// Compares a range's blocks with what the file holds; a zero block that differs is written
// here, every other differing block is appended to refs/wanted for one repository read.
Status FileRestorer::CompareRange(pipeline::Hmac& hmac, const Range& range,
                                  std::vector<repo::BlockRef>& refs, std::vector<Wanted>& wanted) {
  Target& file = *range.file;
  const repo::FileEntry& e = file.entry;
  const uint64_t block_size = options_.block_size;
  size_t end = std::min(e.blocks.size(), range.first_block + range.block_count);
  if (range.first_block >= end) return Status::Ok();
  uint64_t begin_off = range.first_block * block_size;
  uint64_t end_off = std::min<uint64_t>(e.size, end * block_size);
  // Around the page cache when the range is not cached (DirectReader): a delta restore after
  // a cold start reads the whole cluster once.
  thread_local AlignedBuffer aligned;
  std::span<uint8_t> buf = aligned.Get(end_off - begin_off);
  DirectReader existing(file.fd.get(), file.path,
                        options_.direct_io ? DirectIo::kAuto : DirectIo::kOff, end_off);
  PGV_ASSIGN_OR_RETURN(size_t got, existing.Read(buf, begin_off));
  for (size_t block_idx = range.first_block; block_idx < end; ++block_idx) {
    uint64_t at = block_idx * block_size - begin_off;
    uint64_t len = std::min<uint64_t>(block_size, e.size - block_idx * block_size);
    const repo::BlockRef& ref = e.blocks[block_idx];
    bool whole = at + len <= got;
    if (whole && (ref.zero ? AllZero(buf.data() + at, len)
                           : hmac.Compute(ByteView(buf.data() + at, len)) == ref.id))
      continue;
    if (!ref.zero) {
      refs.push_back(ref);
      wanted.push_back({&file, block_idx});
      continue;
    }
    // A zero block past the end of the file is left to CompleteDelta's ftruncate (a hole).
    file.changed = true;
    if (at >= got) continue;
    std::memset(buf.data() + at, 0, len);
    PGV_RETURN_IF_ERROR(
        PwriteFull(file.fd.get(), ByteView(buf.data() + at, len), begin_off + at, file.path));
    bytes_written_ += len;
  }
  progress_.Update(bytes_ += end_off - begin_off, options_.total_bytes);
  return Status::Ok();
}

Status FileRestorer::DeltaJob(repo::BlockReader& reader, pipeline::Hmac& hmac, const Job& job) {
  std::vector<repo::BlockRef> refs;
  std::vector<Wanted> wanted;
  for (const Range& range : job) {
    if (range.file->trusted) {  // counted as compared, for the totals and the progress
      const repo::FileEntry& e = range.file->entry;
      uint64_t first = std::min<uint64_t>(e.size, range.first_block * options_.block_size);
      uint64_t last = std::min<uint64_t>(
          e.size, (range.first_block + range.block_count) * uint64_t{options_.block_size});
      progress_.Update(bytes_ += last - first, options_.total_bytes);
      continue;
    }
    Status s = CompareRange(hmac, range, refs, wanted);
    if (!s.ok()) return s.Context(Describe(range.file->entry.path));
  }
  if (refs.empty()) return Status::Ok();
  Status s = reader.Read(refs, 0, refs.size(), [&](size_t idx, Bytes& plain) {
    return WriteBlock(*wanted[idx].file, wanted[idx].block_idx, plain);
  });
  if (s.ok()) return s;
  if (job.size() == 1) return s.Context(Describe(job[0].file->entry.path));
  return s.Context(
      fmt::format("restoring {} files of backup '{}'", job.size(), options_.backup_id));
}

// The last range of a file: size, mode and times as the backup recorded them, then the figures.
Status FileRestorer::CompleteDelta(Target& file) {
  const repo::FileEntry& e = file.entry;
  struct stat st;
  if (::fstat(file.fd.get(), &st) != 0) return ErrnoStatus("cannot stat", file.path, errno);
  if (static_cast<uint64_t>(st.st_size) != e.size) {
    if (::ftruncate(file.fd.get(), static_cast<off_t>(e.size)) != 0)
      return ErrnoStatus("cannot size", file.path, errno);
    file.changed = true;
  }
  if ((st.st_mode & 07777) != (e.mode & 07777) && ::fchmod(file.fd.get(), e.mode & 07777) != 0)
    return ErrnoStatus("cannot chmod", file.path, errno);
  if (file.counted) (file.changed ? rewritten_ : unchanged_)++;
  return TimeSyncAndClose(file);
}

}  // namespace pgvault::restore

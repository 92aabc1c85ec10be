#include "backup/file_worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include "storage/posix/posix_storage.h"

namespace pgvault::backup {
namespace {

bool AllZero(const uint8_t* p, size_t n) {
  // Blocks are multiples of 8 bytes except a file's tail.
  size_t words = n / 8;
  const uint8_t* end = p + words * 8;
  for (const uint8_t* w = p; w < end; w += 8) {
    uint64_t v;
    std::memcpy(&v, w, 8);
    if (v) return false;
  }
  for (size_t byte_idx = words * 8; byte_idx < n; ++byte_idx)
    if (p[byte_idx]) return false;
  return true;
}

struct DigestHash {
  size_t operator()(const pipeline::Digest& d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

}  // namespace

Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, uint32_t block_size,
                                                  pipeline::Hmac& hmac, repo::PackWriter& packs,
                                                  BlockCounters& counters,
                                                  pipeline::StageTimes& times,
                                                  const std::function<void(uint64_t)>& on_read) {
  const WalkEntry& we = *job.entry;
  int fd = ::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      counters.files_vanished++;
      return std::optional<repo::FileEntry>();
    }
    return storage::ErrnoStatus("cannot open", we.source_path, errno);
  }
  struct stat st;
  ::fstat(fd, &st);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  repo::FileEntry out{.type = repo::EntryType::kFile, .path = we.path, .mode = st.st_mode & 07777u,
                      .mtime = st.st_mtim.tv_sec};
  const std::vector<repo::BlockRef>* parent_blocks = job.parent ? &job.parent->blocks : nullptr;
  // Built only when a block is not at its parent position, which is rare for relation files.
  std::unordered_map<pipeline::Digest, repo::BlockLocation, DigestHash> known;
  bool known_built = false;

  Bytes buf(block_size);
  uint64_t offset = 0;
  for (;;) {
    int64_t t0 = pipeline::ThreadCpuNanos();
    size_t filled = 0;
    while (filled < block_size) {
      ssize_t n = ::pread(fd, buf.data() + filled, block_size - filled,
                          static_cast<off_t>(offset + filled));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return storage::ErrnoStatus("cannot read", we.source_path, err);
      }
      if (n == 0) break;
      filled += static_cast<size_t>(n);
    }
    int64_t t1 = pipeline::ThreadCpuNanos();
    times.read_ns += t1 - t0;
    if (filled == 0) break;
    ByteView block(buf.data(), filled);
    counters.bytes_read += filled;
    counters.blocks++;
    size_t block_idx = out.blocks.size();
    repo::BlockRef ref;
    if (AllZero(buf.data(), filled)) {
      ref.zero = true;
      counters.zero_blocks++;
    } else {
      ref.id = hmac.Compute(block);
      times.hash_ns += pipeline::ThreadCpuNanos() - t1;
      bool found = false;
      if (parent_blocks && block_idx < parent_blocks->size()) {
        const repo::BlockRef& p = (*parent_blocks)[block_idx];
        if (!p.zero && p.id == ref.id) {
          ref.loc = p.loc;
          found = true;
        }
      }
      if (!found) {
        if (!known_built && parent_blocks) {
          for (const auto& p : *parent_blocks)
            if (!p.zero) known.emplace(p.id, p.loc);
          known_built = true;
        }
        auto it = known.find(ref.id);
        if (it != known.end()) {
          ref.loc = it->second;
          found = true;
        }
      }
      if (found) {
        counters.reused_blocks++;
      } else {
        auto loc = packs.Add(ref.id, block);
        if (!loc.ok()) {
          ::close(fd);
          return loc.status();
        }
        ref.loc = *loc;
        known.emplace(ref.id, ref.loc);
        counters.new_blocks++;
      }
    }
    out.blocks.push_back(ref);
    offset += filled;
    on_read(filled);
    if (filled < block_size) break;
  }
  ::close(fd);
  out.size = offset;
  out.checksum = repo::FileChecksum(out.blocks);
  return std::optional<repo::FileEntry>(std::move(out));
}

}  // namespace pgvault::backup

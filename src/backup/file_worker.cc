#include "backup/file_worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include "common/file.h"
#include "common/work_unit.h"
#include "pipeline/delta.h"

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

// The full block a delta for position idx (in the whole file) would be made against: the parent's
// block there, or that block's own base when it is a delta (so deltas never chain).
std::optional<repo::BlockRef> DeltaBase(const std::vector<repo::BlockRef>* parent, size_t idx) {
  if (!parent || idx >= parent->size() || (*parent)[idx].zero) return std::nullopt;
  const repo::BlockRef& p = (*parent)[idx];
  if (!p.delta) return p;
  return repo::BlockRef{.id = p.base_id, .loc = p.base_loc};
}

}  // namespace

const BlockIndex& ParentFile::ById() const {
  std::call_once(by_id_once_, [&] {
    for (const auto& p : entry_.blocks)
      if (!p.zero) by_id_.emplace(p.id, p);
  });
  return by_id_;
}

Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx) {
  const WalkEntry& we = *job.entry;
  UniqueFd file(::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
  if (!file && errno == EPERM) file.reset(::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) {
    if (errno == ENOENT) {
      if (job.part == 0) ctx.counters.files_vanished++;
      return std::optional<repo::FileEntry>();
    }
    return ErrnoStatus("cannot open", we.source_path, errno);
  }
  const int fd = file.get();
  struct stat st;
  ::fstat(fd, &st);
  const uint32_t block_size = ctx.block_size;
  const uint64_t start = job.first_block * block_size;
  // A bounded range stops at its last block; the last range of a file reads on to EOF.
  const uint64_t end = job.block_count > 0 ? start + job.block_count * block_size : UINT64_MAX;
  ::posix_fadvise(fd, static_cast<off_t>(start),
                  job.block_count > 0 ? static_cast<off_t>(end - start) : 0, POSIX_FADV_SEQUENTIAL);

  repo::FileEntry out{.type = repo::EntryType::kFile,
                      .path = we.path,
                      .mode = st.st_mode & 07777u,
                      .mtime = st.st_mtim.tv_sec};
  const std::vector<repo::BlockRef>* parent = job.parent ? &job.parent->blocks() : nullptr;
  // Blocks stored by this job so far, by id. With the parent's blocks by id (shared by the
  // file's jobs), this finds a block that is not at its parent position; blocks stored by
  // other ranges of the same file are not seen, so such a twin is stored once per range.
  BlockIndex stored;
  auto find_known = [&](const pipeline::Digest& id) -> const repo::BlockRef* {
    if (job.parent) {
      const BlockIndex& by_id = job.parent->ById();
      if (auto it = by_id.find(id); it != by_id.end()) return &it->second;
    }
    auto it = stored.find(id);
    return it != stored.end() ? &it->second : nullptr;
  };

  // Blocks read, hashed and stored together: a slice bounds a worker's memory and lets the
  // delta bases of a slice come in a few ranged reads.
  const size_t slice_blocks = std::max<size_t>(1, kWorkUnitBytes / block_size);
  // Most files are far smaller than a slice: size the buffer to the file (plus a block, so a
  // file that grows meanwhile still reads on) and keep it for the thread's next file. A fresh,
  // zero-filled 8 MiB per file cost more CPU than reading the ~1000 small files of a cluster.
  thread_local Bytes slice_buffer;
  uint64_t file_size = static_cast<uint64_t>(std::max<off_t>(st.st_size, 0));
  uint64_t left = file_size > start ? file_size - start : 0;
  uint64_t job_blocks = job.block_count > 0 ? job.block_count : left / block_size + 1;
  size_t slice_len = std::min<uint64_t>(slice_blocks, job_blocks) * block_size;
  if (slice_buffer.size() < slice_len) slice_buffer.resize(slice_len);
  uint64_t offset = start;
  while (offset < end) {
    std::span<uint8_t> buf(slice_buffer.data(), std::min<uint64_t>(slice_len, end - offset));
    int64_t t0 = pipeline::ThreadCpuNanos();
    size_t filled;
    PGV_ASSIGN_OR_RETURN(filled, PreadFull(fd, buf, offset, we.source_path));
    int64_t t1 = pipeline::ThreadCpuNanos();
    ctx.times.read_ns += t1 - t0;
    if (filled == 0) break;
    ctx.counters.bytes_read += filled;
    size_t first_idx = out.blocks.size();
    size_t nblocks = (filled + block_size - 1) / block_size;
    auto block_at = [&](size_t slot) {
      size_t begin = slot * block_size;
      return ByteView(buf.data() + begin, std::min<size_t>(block_size, filled - begin));
    };

    // Pass 1: ids, and what the parent already has.
    std::vector<size_t> changed;  // slots that must be stored
    for (size_t slot = 0; slot < nblocks; ++slot) {
      ByteView block = block_at(slot);
      size_t file_idx = job.first_block + first_idx + slot;
      repo::BlockRef ref;
      ctx.counters.blocks++;
      if (AllZero(block.data(), block.size())) {
        ref.zero = true;
        ctx.counters.zero_blocks++;
        out.blocks.push_back(ref);
        continue;
      }
      ref.id = ctx.hmac.Compute(block);
      bool found = false;
      if (parent && file_idx < parent->size() && !(*parent)[file_idx].zero &&
          (*parent)[file_idx].id == ref.id) {
        ref = (*parent)[file_idx];
        found = true;
      } else if (const repo::BlockRef* known = find_known(ref.id)) {
        ref = *known;
        found = true;
      }
      if (found)
        ctx.counters.reused_blocks++;
      else
        changed.push_back(slot);
      out.blocks.push_back(ref);
    }
    ctx.times.hash_ns += pipeline::ThreadCpuNanos() - t1;

    // Pass 2: the parent's versions of the changed blocks, fetched together, as delta bases.
    std::vector<repo::BlockRef> base_refs;
    std::vector<size_t> base_slot;
    std::unordered_map<size_t, size_t> base_of_slot;  // slot -> index in base_refs
    if (ctx.delta_level > 0) {
      for (size_t slot : changed)
        if (auto base = DeltaBase(parent, job.first_block + first_idx + slot)) {
          base_of_slot[slot] = base_refs.size();
          base_refs.push_back(*base);
          base_slot.push_back(slot);
        }
    }
    std::unordered_map<size_t, Bytes> bases;  // slot -> base plaintext
    if (!base_refs.empty()) {
      Status s = ctx.reader.Read(base_refs, 0, base_refs.size(), [&](size_t ref_idx, Bytes& plain) {
        bases.emplace(base_slot[ref_idx], std::move(plain));
        return Status::Ok();
      });
      // An unreadable parent block only costs the delta: store the block in full.
      if (!s.ok()) bases.clear();
    }

    // Pass 3: store each changed block as a delta when that is clearly smaller, else in full.
    for (size_t slot : changed) {
      ByteView block = block_at(slot);
      repo::BlockRef& ref = out.blocks[first_idx + slot];
      if (auto twin = stored.find(ref.id); twin != stored.end()) {
        ref = twin->second;  // the same block stored earlier in this slice
        ctx.counters.reused_blocks++;
        continue;
      }
      auto base = bases.find(slot);
      if (base != bases.end()) {
        int64_t t2 = pipeline::ThreadCpuNanos();
        Bytes frame;
        PGV_RETURN_IF_ERROR(pipeline::DeltaEncode(base->second, block, ctx.delta_level, frame));
        // Worth it only at half the standalone size or less. The standalone size is estimated
        // by the base's stored size (the same block one backup ago): compressing the block
        // only to measure it, then again to store it, cost as much CPU as the delta itself.
        const repo::BlockRef& b = base_refs[base_of_slot[slot]];
        bool use_delta = frame.size() <= block.size() / 16 || frame.size() * 2 <= b.loc.size;
        ctx.times.compress_ns += pipeline::ThreadCpuNanos() - t2;
        if (use_delta) {
          PGV_ASSIGN_OR_RETURN(ref.loc,
                               ctx.packs.AddDelta(ref.id, frame, block.size(), b.id, b.loc));
          ref.delta = true;
          ref.base_id = b.id;
          ref.base_loc = b.loc;
          ctx.counters.delta_blocks++;
          stored.emplace(ref.id, ref);
          continue;
        }
      }
      PGV_ASSIGN_OR_RETURN(ref.loc, ctx.packs.Add(ref.id, block));
      ctx.counters.new_blocks++;
      stored.emplace(ref.id, ref);
    }
    offset += filled;
    ctx.on_read(filled);
    if (filled < buf.size()) break;
  }
  out.size = offset - start;
  return std::optional<repo::FileEntry>(std::move(out));
}

}  // namespace pgvault::backup

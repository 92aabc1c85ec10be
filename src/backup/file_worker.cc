#include "backup/file_worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include "common/direct_io.h"
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

// Opens the job's file. nullopt when it vanished (PostgreSQL dropped it meanwhile).
Result<std::optional<UniqueFd>> OpenSource(const FileJob& job, BlockCounters& counters) {
  const WalkEntry& we = *job.entry;
  UniqueFd file(::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
  if (!file && errno == EPERM) file.reset(::open(we.source_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) {
    if (errno == ENOENT) {
      if (job.part == 0) counters.files_vanished++;
      return std::optional<UniqueFd>();
    }
    return ErrnoStatus("cannot open", we.source_path, errno);
  }
  return std::optional<UniqueFd>(std::move(file));
}

// The parent's versions of a slice's changed blocks, fetched together, as delta bases.
struct DeltaBases {
  std::vector<repo::BlockRef> refs;
  std::unordered_map<size_t, size_t> ref_of_slot;  // slot -> index in refs
  std::unordered_map<size_t, Bytes> plain;         // slot -> base plaintext
};

// One job's blocks, stored slice by slice into out.
class JobWriter {
 public:
  JobWriter(const FileJob& job, WorkerContext& ctx, repo::FileEntry& out)
      : job_(job), ctx_(ctx), out_(out), parent_(job.parent ? &job.parent->blocks() : nullptr) {}

  // The blocks of one slice: filled bytes of buf, read at the file's current end of out.
  Status StoreSlice(std::span<const uint8_t> buf, size_t filled) {
    slice_ = buf.data();
    filled_ = filled;
    first_idx_ = out_.blocks.size();
    int64_t t0 = pipeline::ThreadCpuNanos();
    std::vector<size_t> changed = IdentifyBlocks();
    ctx_.times.hash_ns += pipeline::ThreadCpuNanos() - t0;
    DeltaBases bases = FetchBases(changed);
    for (size_t slot : changed) PGV_RETURN_IF_ERROR(StoreChanged(slot, bases));
    return Status::Ok();
  }

 private:
  ByteView BlockAt(size_t slot) const {
    size_t begin = slot * ctx_.block_size;
    return ByteView(slice_ + begin, std::min<size_t>(ctx_.block_size, filled_ - begin));
  }
  size_t FileIndex(size_t slot) const { return job_.first_block + first_idx_ + slot; }

  // Blocks stored by this job so far, by id. With the parent's blocks by id (shared by the
  // file's jobs), this finds a block that is not at its parent position; blocks stored by
  // other ranges of the same file are not seen, so such a twin is stored once per range.
  const repo::BlockRef* FindKnown(const pipeline::Digest& id) const {
    if (job_.parent) {
      const BlockIndex& by_id = job_.parent->ById();
      if (auto it = by_id.find(id); it != by_id.end()) return &it->second;
    }
    auto it = stored_.find(id);
    return it != stored_.end() ? &it->second : nullptr;
  }

  // Pass 1: ids, and what the parent already has. Returns the slots that must be stored.
  std::vector<size_t> IdentifyBlocks() {
    std::vector<size_t> changed;
    size_t nblocks = (filled_ + ctx_.block_size - 1) / ctx_.block_size;
    for (size_t slot = 0; slot < nblocks; ++slot) {
      ByteView block = BlockAt(slot);
      size_t file_idx = FileIndex(slot);
      repo::BlockRef ref;
      ctx_.counters.blocks++;
      if (AllZero(block.data(), block.size())) {
        ref.zero = true;
        ctx_.counters.zero_blocks++;
        out_.blocks.push_back(ref);
        continue;
      }
      ref.id = ctx_.hmac.Compute(block);
      bool found = false;
      if (parent_ && file_idx < parent_->size() && !(*parent_)[file_idx].zero &&
          (*parent_)[file_idx].id == ref.id) {
        ref = (*parent_)[file_idx];
        found = true;
      } else if (const repo::BlockRef* known = FindKnown(ref.id)) {
        ref = *known;
        found = true;
      }
      if (found)
        ctx_.counters.reused_blocks++;
      else
        changed.push_back(slot);
      out_.blocks.push_back(ref);
    }
    return changed;
  }

  // Pass 2: the parent's versions of the changed blocks. An unreadable parent block only costs
  // the delta: the block is stored in full.
  DeltaBases FetchBases(const std::vector<size_t>& changed) {
    DeltaBases bases;
    if (ctx_.delta_level <= 0) return bases;
    std::vector<size_t> base_slot;
    for (size_t slot : changed)
      if (auto base = DeltaBase(parent_, FileIndex(slot))) {
        bases.ref_of_slot[slot] = bases.refs.size();
        bases.refs.push_back(*base);
        base_slot.push_back(slot);
      }
    if (bases.refs.empty()) return bases;
    Status s = ctx_.reader.Read(bases.refs, 0, bases.refs.size(), [&](size_t ref_idx, Bytes& p) {
      bases.plain.emplace(base_slot[ref_idx], std::move(p));
      return Status::Ok();
    });
    if (!s.ok()) bases.plain.clear();
    return bases;
  }

  // Stores the block as a delta when that is clearly smaller. Returns whether it did.
  Result<bool> TryDelta(ByteView block, const Bytes& base, const repo::BlockRef& b,
                        repo::BlockRef& ref) {
    int64_t t0 = pipeline::ThreadCpuNanos();
    Bytes frame;
    PGV_RETURN_IF_ERROR(pipeline::DeltaEncode(base, block, ctx_.delta_level, frame));
    // Worth it only at half the standalone size or less. The standalone size is estimated by
    // the base's stored size (the same block one backup ago): compressing the block only to
    // measure it, then again to store it, cost as much CPU as the delta itself.
    bool use_delta = frame.size() <= block.size() / 16 || frame.size() * 2 <= b.loc.size;
    ctx_.times.compress_ns += pipeline::ThreadCpuNanos() - t0;
    if (!use_delta) return false;
    PGV_ASSIGN_OR_RETURN(ref.loc, ctx_.packs.AddDelta(ref.id, frame, block.size(), b.id, b.loc));
    ref.delta = true;
    ref.base_id = b.id;
    ref.base_loc = b.loc;
    ctx_.counters.delta_blocks++;
    return true;
  }

  // Pass 3: one changed block, as a delta or in full, unless stored earlier in this job.
  Status StoreChanged(size_t slot, const DeltaBases& bases) {
    ByteView block = BlockAt(slot);
    repo::BlockRef& ref = out_.blocks[first_idx_ + slot];
    if (auto twin = stored_.find(ref.id); twin != stored_.end()) {
      ref = twin->second;
      ctx_.counters.reused_blocks++;
      return Status::Ok();
    }
    bool stored_delta = false;
    if (auto base = bases.plain.find(slot); base != bases.plain.end()) {
      const repo::BlockRef& b = bases.refs[bases.ref_of_slot.at(slot)];
      PGV_ASSIGN_OR_RETURN(stored_delta, TryDelta(block, base->second, b, ref));
    }
    if (!stored_delta) {
      PGV_ASSIGN_OR_RETURN(ref.loc, ctx_.packs.Add(ref.id, block));
      ctx_.counters.new_blocks++;
    }
    stored_.emplace(ref.id, ref);
    return Status::Ok();
  }

  const FileJob& job_;
  WorkerContext& ctx_;
  repo::FileEntry& out_;
  const std::vector<repo::BlockRef>* parent_;
  BlockIndex stored_;
  const uint8_t* slice_ = nullptr;
  size_t filled_ = 0;
  size_t first_idx_ = 0;  // index in out_.blocks of the slice's first block
};

// The length of the job's slices: at most kWorkUnitBytes. Most files are far smaller than a
// slice: the slice is sized to the file (plus a block, so a file that grows meanwhile still
// reads on). Blocks read, hashed and stored together: a slice bounds a worker's memory and lets
// the delta bases of a slice come in a few ranged reads.
size_t SliceLength(const FileJob& job, uint32_t block_size, uint64_t file_size) {
  const uint64_t start = job.first_block * block_size;
  const size_t slice_blocks = std::max<size_t>(1, kWorkUnitBytes / block_size);
  uint64_t left = file_size > start ? file_size - start : 0;
  uint64_t job_blocks = job.block_count > 0 ? job.block_count : left / block_size + 1;
  return std::min<uint64_t>(slice_blocks, job_blocks) * block_size;
}

}  // namespace

const BlockIndex& ParentFile::ById() const {
  std::call_once(by_id_once_, [&] {
    for (const auto& p : entry_.blocks)
      if (!p.zero) by_id_.emplace(p.id, p);
  });
  return by_id_;
}

OpenedJob OpenJob(const FileJob& job, WorkerContext& ctx, AlignedBuffer& buffer) {
  OpenedJob opened;
  const WalkEntry& we = *job.entry;
  Result<std::optional<UniqueFd>> file = OpenSource(job, ctx.counters);
  if (!file.ok()) {
    opened.first = file.status();
    return opened;
  }
  opened.file = std::move(file).value();
  if (!opened.file) return opened;
  const int fd = opened.file->get();
  ::fstat(fd, &opened.st);
  const uint32_t block_size = ctx.block_size;
  const uint64_t start = job.first_block * block_size;
  const uint64_t size = static_cast<uint64_t>(std::max<off_t>(opened.st.st_size, 0));
  // A bounded range stops at its last block; the last range of a file reads on to EOF.
  opened.end = job.block_count > 0 ? start + job.block_count * block_size : UINT64_MAX;
  ::posix_fadvise(fd, static_cast<off_t>(start),
                  job.block_count > 0 ? static_cast<off_t>(opened.end - start) : 0,
                  POSIX_FADV_SEQUENTIAL);
  opened.slice = buffer.Get(SliceLength(job, block_size, size));
  opened.reader.emplace(fd, we.source_path, ctx.direct_io, size);
  int64_t t0 = pipeline::ThreadCpuNanos();
  opened.first = opened.reader->Read(
      opened.slice.first(std::min<uint64_t>(opened.slice.size(), opened.end - start)), start);
  ctx.times.read_ns += pipeline::ThreadCpuNanos() - t0;
  return opened;
}

bool WorthReadingAhead(const FileJob& job, uint32_t block_size) {
  if (job.unchanged || job.entry->type != repo::EntryType::kFile) return false;
  uint64_t start = job.first_block * block_size;
  uint64_t size = job.entry->size > start ? job.entry->size - start : 0;
  if (job.block_count > 0) size = std::min<uint64_t>(size, job.block_count * block_size);
  return size >= DirectReader::kMinDirectRead;
}

Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx) {
  thread_local AlignedBuffer slice_buffer;  // aligned for O_DIRECT (DirectReader)
  return BackupFile(job, ctx, OpenJob(job, ctx, slice_buffer));
}

Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx,
                                                  OpenedJob opened) {
  const WalkEntry& we = *job.entry;
  if (!opened.first.ok()) return opened.first.status();
  if (!opened.file) return std::optional<repo::FileEntry>();
  const int fd = opened.file->get();
  const uint64_t start = job.first_block * ctx.block_size;
  const uint64_t end = opened.end;
  repo::FileEntry out{.type = repo::EntryType::kFile,
                      .path = we.path,
                      .mode = opened.st.st_mode & 07777u,
                      .mtime = opened.st.st_mtim.tv_sec};
  JobWriter writer(job, ctx, out);
  std::span<uint8_t> slice = opened.slice;
  DirectReader& source = *opened.reader;
  uint64_t offset = start;
  while (offset < end) {
    std::span<uint8_t> buf = slice.first(std::min<uint64_t>(slice.size(), end - offset));
    size_t filled = *opened.first;  // the first slice: read by OpenJob (and timed there)
    if (offset != start) {
      int64_t t0 = pipeline::ThreadCpuNanos();
      PGV_ASSIGN_OR_RETURN(filled, source.Read(buf, offset));
      ctx.times.read_ns += pipeline::ThreadCpuNanos() - t0;
    }
    int64_t t1 = pipeline::ThreadCpuNanos();
    if (filled == 0) break;
    ctx.counters.bytes_read += filled;
    if (ctx.page_check) {
      PGV_RETURN_IF_ERROR(CheckPages(*ctx.page_check, we.path, fd, offset, buf.first(filled)));
      ctx.times.hash_ns += pipeline::ThreadCpuNanos() - t1;  // page checksums count as hashing
    }
    PGV_RETURN_IF_ERROR(writer.StoreSlice(buf, filled));
    offset += filled;
    ctx.on_read(filled);
    if (filled < buf.size()) break;
  }
  out.size = offset - start;
  ctx.counters.bytes_read_direct += source.direct_bytes();
  return std::optional<repo::FileEntry>(std::move(out));
}

repo::FileEntry ReuseUnchangedFile(const FileJob& job, WorkerContext& ctx) {
  repo::FileEntry entry = job.parent->entry();
  entry.mode = job.entry->mode;
  uint64_t zero = 0;
  for (const auto& block : entry.blocks) zero += block.zero;
  ctx.counters.blocks += entry.blocks.size();
  ctx.counters.zero_blocks += zero;
  ctx.counters.reused_blocks += entry.blocks.size() - zero;
  ctx.counters.files_unchanged++;
  ctx.counters.bytes_unchanged += entry.size;
  // Progress counts the file as done; bytes_read does not count it.
  ctx.on_read(entry.size);
  return entry;
}

}  // namespace pgvault::backup

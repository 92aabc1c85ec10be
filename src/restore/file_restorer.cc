#include "restore/file_restorer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/crash_point.h"
#include "common/direct_io.h"
#include "common/file.h"

namespace pgvault::restore {

FileRestorer::FileRestorer(repo::Repository& repo, FileRestorerOptions options, Progress& progress)
    : repo_(repo), options_(std::move(options)), progress_(progress), queue_(options_.queue_limit) {
  assert(options_.block_size > 0 && "the caller checks the manifest's block size");
  workers_.Start(options_.jobs, [this](const std::stop_token&) { return Work(); });
}

FileRestorer::~FileRestorer() {
  if (!finished_) Abort(Status::Internal("restore abandoned"));
}

std::string FileRestorer::Describe(const std::string& path) const {
  if (options_.backup_id.empty()) return fmt::format("restoring '{}'", path);
  return fmt::format("restoring '{}' of backup '{}'", path, options_.backup_id);
}

bool FileRestorer::Add(repo::FileEntry entry, std::string target, bool counted) {
  if (workers_.stopped()) return false;
  auto fail = [&](const Status& s) {
    Abort(s.Context(Describe(entry.path)));
    return false;
  };
  if (repo::FileChecksum(entry.blocks) != entry.checksum)
    return fail(Status::Corruption("its manifest entry fails its checksum"));
  uint64_t block_size = options_.block_size;
  uint64_t expected_blocks = (entry.size + block_size - 1) / block_size;
  if (entry.blocks.size() != expected_blocks)
    return fail(Status::Corruption("its manifest entry has the wrong number of blocks"));

  auto file = std::make_shared<Target>();
  file->path = std::move(target);
  file->counted = counted;
  size_t per_range = std::max<uint64_t>(1, options_.range_bytes / block_size);
  // An empty file still needs one range to size, date and fsync it.
  size_t ranges = std::max<size_t>(1, (entry.blocks.size() + per_range - 1) / per_range);
  file->ranges_left = ranges;
  file->entry = std::move(entry);
  uint64_t size = file->entry.size;
  // A small file is created by the worker that writes its batch: queued batches hold no
  // descriptors (64 queued batches of open files ran out of them on 80,000 files).
  if (ranges == 1 && size <= kSmallFileBytes) {
    batch_.push_back({std::move(file), 0, per_range});
    batch_bytes_ += size;
    if (batch_.size() >= kBatchFiles || batch_bytes_ >= kWorkUnitBytes) return FlushBatch();
    return true;
  }
  // A large file is created here, before any range is queued, so every range finds it open.
  Status created = options_.delta ? OpenExisting(*file) : Create(*file);
  if (!created.ok()) return fail(created);
  for (size_t range_idx = 0; range_idx < ranges; ++range_idx)
    if (!Push({{file, range_idx * per_range, per_range}})) return false;
  return true;
}

bool FileRestorer::FlushBatch() {
  if (batch_.empty()) return true;
  Job job;
  job.swap(batch_);
  batch_bytes_ = 0;
  return Push(std::move(job));
}

// Waits while the queue is full; a failed restore cancels the queue and the push fails.
bool FileRestorer::Push(Job job) { return queue_.Push(std::move(job)); }

// Dropping the queued jobs closes their files (outside the queue's lock).
void FileRestorer::Abort(const Status& s) { workers_.Stop(s); }

Status FileRestorer::Finish() {
  if (!FlushBatch()) batch_.clear();
  queue_.Close();
  Status s = workers_.Wait();
  finished_ = true;
  progress_.Update(bytes_, options_.total_bytes);
  return s;
}

Status FileRestorer::Work() {
  repo::BlockReader reader = repo_.NewBlockReader();
  std::optional<pipeline::Hmac> hmac;  // delta mode: the backup's block ids of what is there
  if (options_.delta) hmac.emplace(repo_.id_key());
  while (std::optional<Job> job = queue_.Pop()) {
    Status s;
    for (const Range& range : *job)  // the small files of a batch are created here
      if (s.ok() && !range.file->fd)
        s = (options_.delta ? OpenExisting(*range.file) : Create(*range.file))
                .Context(Describe(range.file->entry.path));
    if (s.ok() && options_.delta)
      s = DeltaJob(reader, *hmac, *job);
    else if (s.ok())
      s = job->size() == 1 ? WriteRange(reader, (*job)[0]) : WriteBatch(reader, *job);
    for (size_t idx = 0; s.ok() && idx < job->size(); ++idx) s = Finished((*job)[idx]);
    PGV_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

// acq_rel: the range that completes the file sees every other range's writes as done.
Status FileRestorer::Finished(Range& range) {
  Target& file = *range.file;
  Status s;
  if (file.ranges_left.fetch_sub(1, std::memory_order_acq_rel) == 1)
    s = options_.delta ? CompleteDelta(file) : Complete(file);
  if (!s.ok()) return s.Context(Describe(file.entry.path));
  range.file.reset();
  return s;
}

// O_EXCL refuses to overwrite anything or to follow a link planted where the file should go.
Status FileRestorer::Create(Target& file) {
  file.fd.reset(
      ::open(file.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file.entry.mode & 07777));
  if (!file.fd) return ErrnoStatus("cannot create", file.path, errno);
  return Status::Ok();
}

Status FileRestorer::WriteBatch(repo::BlockReader& reader, const Job& job) {
  std::vector<repo::BlockRef> refs;
  std::vector<size_t> first_block;  // of each file in refs
  for (const Range& range : job) {
    first_block.push_back(refs.size());
    refs.insert(refs.end(), range.file->entry.blocks.begin(), range.file->entry.blocks.end());
  }
  Status s = reader.Read(refs, 0, refs.size(), [&](size_t idx, Bytes& plain) {
    size_t file_idx =
        std::upper_bound(first_block.begin(), first_block.end(), idx) - first_block.begin() - 1;
    return WriteBlock(*job[file_idx].file, idx - first_block[file_idx], plain);
  });
  if (s.ok()) return s;
  // Which file? Read them one by one; the failing one names itself.
  for (const Range& range : job) PGV_RETURN_IF_ERROR(WriteRange(reader, range));
  return s.Context(
      fmt::format("restoring {} small files of backup '{}'", job.size(), options_.backup_id));
}

Status FileRestorer::WriteBlock(Target& file, size_t idx, const Bytes& plain,
                                DirectWriter* direct) {
  const uint64_t block_size = options_.block_size;
  uint64_t offset = static_cast<uint64_t>(idx) * block_size;
  uint64_t want = std::min<uint64_t>(block_size, file.entry.size - offset);
  if (plain.size() != want)
    return Status::Corruption(
        fmt::format("block {} has {} bytes, expected {}", idx, plain.size(), want));
  PGV_RETURN_IF_ERROR(direct ? direct->Write(plain, offset)
                             : PwriteFull(file.fd.get(), plain, offset, file.path));
  if (options_.delta) {  // progress counts the bytes compared (CompareRange)
    bytes_written_ += plain.size();
    file.changed = true;
    return Status::Ok();
  }
  progress_.Update(bytes_ += plain.size(), options_.total_bytes);
  return Status::Ok();
}

// Errors name the file. Blocks go around the page cache (DirectWriter) unless --direct-io off
// or in delta mode, whose files are mostly there already.
Status FileRestorer::WriteRange(repo::BlockReader& reader, const Range& range) {
  const repo::FileEntry& e = range.file->entry;
  size_t end = std::min(e.blocks.size(), range.first_block + range.block_count);
  thread_local AlignedBuffer chunk;
  std::optional<DirectWriter> direct;
  if (options_.direct_io && !options_.delta)
    direct.emplace(range.file->fd.get(), range.file->path, chunk);
  // A slice of blocks per read bounds memory whatever the range size; BlockReader coalesces the
  // reads and resolves delta blocks. Zero blocks stay holes (Complete's ftruncate).
  const size_t slice = std::max<size_t>(1, kWorkUnitBytes / options_.block_size);
  for (size_t first = range.first_block; first < end; first += slice) {
    size_t count = std::min(slice, end - first);
    Status s = reader.Read(e.blocks, first, count, [&](size_t idx, Bytes& plain) {
      return WriteBlock(*range.file, idx, plain, direct ? &*direct : nullptr);
    });
    if (s.ok() && direct) s = direct->Flush();
    if (!s.ok()) return s.Context(Describe(e.path));
  }
  if (direct) direct_bytes_ += direct->direct_bytes();
  return Status::Ok();
}

Status FileRestorer::Complete(Target& file) {
  const repo::FileEntry& e = file.entry;
  if (::ftruncate(file.fd.get(), static_cast<off_t>(e.size)) != 0)
    return ErrnoStatus("cannot size", file.path, errno);
  return TimeSyncAndClose(file);
}

Status FileRestorer::TimeSyncAndClose(Target& file) {
  // Times before the fsync so that they are durable too; PostgreSQL does not need them exact.
  timespec times[2] = {{file.entry.mtime, 0}, {file.entry.mtime, 0}};
  ::futimens(file.fd.get(), times);
  if (options_.sync_each_file && ::fsync(file.fd.get()) != 0)
    return ErrnoStatus("cannot fsync", file.path, errno);
  PGV_RETURN_IF_ERROR(file.fd.Close(file.path));
  // One crash point among the files, not one a file: they are written in no order that
  // matters, so any subset of them is the same case (pg_control absent, the marker present).
  if (files_++ == 0) CrashPoint("restore: a first file written");
  return Status::Ok();
}

}  // namespace pgvault::restore

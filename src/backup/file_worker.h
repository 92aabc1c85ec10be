// Backs up one file, or one range of blocks of a large file: reads it slice by slice, skips
// all-zero blocks, reuses blocks the parent backup already stored at the same place (or anywhere
// in the same file), stores a changed block as a delta against the parent's version when that is
// much smaller, and seals the rest into the worker's pack. Checks relation files' page checksums
// on the way (page_check.h). Runs on a worker thread with its own
// PackWriter, Hmac and BlockReader; the ranges of one file may run on different workers at once.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include "backup/page_check.h"
#include "backup/pgdata_walk.h"
#include "common/direct_io.h"
#include "common/file.h"
#include "pipeline/codec.h"
#include "repo/block_reader.h"
#include "repo/manifest.h"
#include "repo/pack.h"

namespace pgvault::backup {

struct BlockCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_read_direct{0};  // of bytes_read, around the page cache
  std::atomic<uint64_t> blocks{0};
  std::atomic<uint64_t> zero_blocks{0};
  std::atomic<uint64_t> reused_blocks{0};  // found in the parent backup or earlier in the file
  std::atomic<uint64_t> new_blocks{0};     // stored in full
  std::atomic<uint64_t> delta_blocks{0};   // stored as a delta against the parent's version
  std::atomic<uint64_t> files_vanished{0};
  // Files taken from the parent backup without reading them (file_jobs.h, UnchangedRule).
  std::atomic<uint64_t> files_unchanged{0};
  std::atomic<uint64_t> bytes_unchanged{0};
};

struct DigestHash {
  size_t operator()(const pipeline::Digest& d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};
using BlockIndex = std::unordered_map<pipeline::Digest, repo::BlockRef, DigestHash>;

// The parent backup's entry for a file, shared by the jobs of all its ranges. Thread-safe.
class ParentFile {
 public:
  explicit ParentFile(repo::FileEntry entry) : entry_(std::move(entry)) {}
  const repo::FileEntry& entry() const { return entry_; }
  const std::vector<repo::BlockRef>& blocks() const { return entry_.blocks; }
  // The parent's non-zero blocks by id (the first of equal ones), built on first use: only a
  // block that moved within the file needs it, which is rare for relation files.
  const BlockIndex& ById() const;

 private:
  repo::FileEntry entry_;
  mutable std::once_flag by_id_once_;
  mutable BlockIndex by_id_;
};

struct FileJob {
  const WalkEntry* entry = nullptr;
  std::shared_ptr<const ParentFile> parent;  // same path in the parent backup, if any
  // The blocks to read: [first_block, first_block + block_count). block_count 0 reads on to the
  // end of the file, however long it has grown by then, as a whole-file job always did.
  uint64_t first_block = 0;
  uint64_t block_count = 0;
  // Which of its file's jobs this is (0-based), and whether it is the last one.
  uint32_t part = 0;
  bool last_part = true;
  // The file is unchanged since the parent backup read it: its entry is the parent's, the file
  // is not read (one job for the whole file).
  bool unchanged = false;
};

// What one worker owns.
struct WorkerContext {
  uint32_t block_size;
  int delta_level;  // zstd level for delta frames; 0 = no delta blocks (repository not zstd)
  pipeline::Hmac& hmac;
  repo::PackWriter& packs;
  repo::BlockReader& reader;  // fetches parent blocks used as delta bases
  BlockCounters& counters;
  pipeline::StageTimes& times;
  std::function<void(uint64_t)> on_read;
  // Set when the cluster has data checksums and the check is on: the pages of relation files
  // are checked as they are read (page_check.h).
  const PageCheckConfig* page_check = nullptr;
  DirectIo direct_io = DirectIo::kAuto;  // common/direct_io.h
};

// The job's blocks as a FileEntry: blocks[0] is the job's first_block; size is the bytes read,
// less than block_count blocks when the file ended within the range (a short read ends reading,
// as for a whole file); mode and mtime come from the file as opened. checksum is left unset: it
// covers the whole file, so OrderedSink sets it once all parts are in. nullopt when the file
// vanished before it could be opened (PostgreSQL dropped it meanwhile); files_vanished counts
// that only for a file's first part.
Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx);

// A file job opened and its first slice read (OpenJob): by the worker itself, or ahead of time
// on a helper thread while the worker still processes the job before (copy_files.cc). O_DIRECT
// reads have no kernel readahead: without reading ahead, each worker idled for every slice's
// read.
struct OpenedJob {
  std::optional<UniqueFd> file;  // nullopt: the file vanished (counted)
  struct stat st {};
  uint64_t end = 0;                    // where the job's reading stops
  std::span<uint8_t> slice;            // the slice buffer, the first slice in it
  Result<size_t> first = size_t{0};    // bytes of the first slice, or why opening or reading failed
  std::optional<DirectReader> reader;  // reads the job's later slices
};
// Opens the job's file and reads its first slice into buffer (which must outlive the result).
// Thread-safe with respect to ctx (counters and times are atomic); reads nothing else of it.
OpenedJob OpenJob(const FileJob& job, WorkerContext& ctx, AlignedBuffer& buffer);
// Whether a job reads enough (a slice that may go around the page cache) to open it ahead.
bool WorthReadingAhead(const FileJob& job, uint32_t block_size);
// BackupFile with the job already opened by OpenJob.
Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx,
                                                  OpenedJob opened);

// The entry of an unchanged file job (FileJob::unchanged): the parent's, with the mode the walk
// saw; counts its blocks as reused and the file as unchanged. Reads nothing.
repo::FileEntry ReuseUnchangedFile(const FileJob& job, WorkerContext& ctx);

}  // namespace pgvault::backup

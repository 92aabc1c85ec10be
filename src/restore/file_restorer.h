// FileRestorer: writes the regular files of a backup into a target directory with worker threads.
// A file is cut into ranges of blocks (kWorkUnitBytes by default) that any worker may restore, so
// one large table does not keep a single core busy while the others idle. Small files (up to
// kSmallFileBytes) travel in batches instead: one queue round trip and one BlockReader call for
// up to kBatchFiles of them, so neighbouring blobs of one pack come in one ranged read. A large
// file is created (O_EXCL) when it is added, before its ranges are queued; a small one by the
// worker that writes its batch, so queued batches hold no descriptors. Ranges pwrite their blocks
// at their offsets through that one descriptor, and the range that completes last sizes, dates,
// fsyncs (unless sync_each_file is off) and closes the file (a per-file countdown). Memory: a
// worker holds at most one job's ranged reads (kWorkUnitBytes) plus decoded blocks; the
// queue holds a bounded number of jobs.
//
// Delta mode (restore --delta, file_restorer_delta.cc): the target file may exist. A job preads
// its range of the existing file, computes each block's keyed id as backup did and reads from
// the repository only the blocks whose id differs (an all-zero block is compared as zeros);
// the last range sizes the file to the manifest's and sets its mode and time. A file whose size
// and mtime equal the manifest's is trusted without reading when delta_by_time is set.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/direct_io.h"
#include "common/file.h"
#include "common/progress.h"
#include "common/work_queue.h"
#include "common/work_unit.h"
#include "pipeline/crypto.h"
#include "repo/block_reader.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgvault::restore {

struct FileRestorerOptions {
  uint32_t block_size = 0;                // the backup's block size (manifest header)
  int jobs = 2;                           // worker threads
  uint64_t range_bytes = kWorkUnitBytes;  // one job's share of a file; rounded down to blocks
  std::string backup_id;                  // names the backup in error messages
  uint64_t total_bytes = 0;               // for progress
  size_t queue_limit = 64;                // jobs waiting; each queued file holds a descriptor
  // false: files are not fsync'd one by one; the caller makes them durable (restore: one
  // syncfs per file system) before anything depends on them.
  bool sync_each_file = true;
  bool delta = false;          // the target may exist: compare and write only changed blocks
  bool delta_by_time = false;  // delta: trust a file whose size and mtime match the manifest
  // Write the blocks of large files around the page cache, and delta mode reads files that are
  // not cached around it (common/direct_io.h, --direct-io).
  bool direct_io = true;
};

class FileRestorer {
 public:
  FileRestorer(repo::Repository& repo, FileRestorerOptions options, Progress& progress);
  ~FileRestorer();  // stops and joins the workers if Finish was not called
  FileRestorer(const FileRestorer&) = delete;
  FileRestorer& operator=(const FileRestorer&) = delete;

  // Checks entry and queues its ranges (a large file is created here, a small one by the worker
  // that writes its batch; target must not exist yet unless in delta mode); blocks while the
  // queue is full. false once the restore has failed: Finish says why. counted = false leaves
  // the file out of the delta figures (a file restore rewrites anyway).
  bool Add(repo::FileEntry entry, std::string target, bool counted = true);
  // Stops the workers, failing the restore with s unless another error came first.
  void Abort(const Status& s);
  // Waits until every queued range is written and every file closed; the first error, if any.
  Status Finish();

  static constexpr uint64_t kSmallFileBytes = 256 << 10;
  static constexpr size_t kBatchFiles = 64;  // descriptors a worker holds at once

  uint64_t files() const { return files_; }
  uint64_t bytes() const { return bytes_; }
  // Delta mode: files found equal, files changed (a block written or the size changed), and the
  // bytes written into them.
  uint64_t unchanged_files() const { return unchanged_; }
  uint64_t rewritten_files() const { return rewritten_; }
  uint64_t bytes_written() const { return bytes_written_; }
  // Bytes written around the page cache.
  uint64_t direct_bytes() const { return direct_bytes_; }

 private:
  // One file being restored. Ranges share the descriptor (pwrite needs no lock); ranges_left
  // counts down, and whichever range brings it to zero completes the file.
  struct Target {
    repo::FileEntry entry;
    std::string path;
    UniqueFd fd;
    std::atomic<size_t> ranges_left{0};
    // Delta mode only.
    bool counted = true;               // in the delta figures
    bool trusted = false;              // size and mtime match (--delta-by-time): not read
    std::atomic<bool> changed{false};  // a block was written or the size changed
  };
  struct Range {
    std::shared_ptr<Target> file;
    size_t first_block = 0;
    size_t block_count = 0;
  };
  using Job = std::vector<Range>;  // one range of a large file, or whole small files
  bool Push(Job job);
  bool FlushBatch();
  Status Create(Target& file);
  Status Work();
  Status WriteRange(repo::BlockReader& reader, const Range& range);
  // The files of a batch with one BlockReader call; on failure, file by file to name the file.
  Status WriteBatch(repo::BlockReader& reader, const Job& job);
  Status Finished(Range& range);
  // Through direct when given (WriteRange), else pwrite.
  Status WriteBlock(Target& file, size_t idx, const Bytes& plain, DirectWriter* direct = nullptr);
  Status Complete(Target& file);
  // Sets the entry's mtime, fsyncs (sync_each_file) and closes; counts the file.
  Status TimeSyncAndClose(Target& file);
  // Delta mode (file_restorer_delta.cc).
  struct Wanted;  // a changed block: which file, which block
  Status OpenExisting(Target& file);
  Status DeltaJob(repo::BlockReader& reader, pipeline::Hmac& hmac, const Job& job);
  Status CompareRange(pipeline::Hmac& hmac, const Range& range, std::vector<repo::BlockRef>& refs,
                      std::vector<Wanted>& wanted);
  Status CompleteDelta(Target& file);
  std::string Describe(const std::string& path) const;

  repo::Repository& repo_;
  FileRestorerOptions options_;
  Progress& progress_;
  std::atomic<uint64_t> files_{0}, bytes_{0};
  std::atomic<uint64_t> unchanged_{0}, rewritten_{0}, bytes_written_{0};
  std::atomic<uint64_t> direct_bytes_{0};

  BoundedQueue<Job> queue_;
  // The first error cancels queue_: the workers and a waiting Add return.
  WorkerGroup workers_{[this](const Status&) { queue_.Cancel(); }};
  bool finished_ = false;
  Job batch_;  // small files not yet queued (the adding thread's only)
  uint64_t batch_bytes_ = 0;
};

}  // namespace pgvault::restore

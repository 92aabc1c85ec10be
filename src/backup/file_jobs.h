// The backup's work list and its results. JobSource hands the workers the walk's entries in path
// order, a large file as several jobs of one block range each so that all workers share it
// (docs/benchmarks.md, "Where the time goes now"), and pairs every file with the parent backup's
// entry for it. OrderedSink takes the results in any order, joins the ranges of a file into one
// entry and writes the entries to the manifest in path order: the manifest is the same whether
// a file was read by one job or by many. Both are thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "backup/file_worker.h"
#include "backup/pgdata_walk.h"
#include "repo/manifest.h"

namespace pgvault::backup {

class JobSource {
 public:
  // A file whose size at walk time spans more than range_blocks blocks becomes
  // ceil(size / range) jobs of range_blocks blocks each; the last reads on to the end of the
  // file, so a file that grows while it is read ends up as a whole-file job would have read it.
  //
  // A file whose size and mtime (seconds) are what the parent recorded, with that mtime earlier
  // than unchanged_before (unix seconds; 0: never), is one job marked unchanged: its entry is
  // the parent's and it is not read. Why that is safe, and how backup chooses unchanged_before:
  // docs/design.md, "Unchanged files".
  JobSource(const std::vector<WalkEntry>& entries, repo::ManifestReader* parent,
            uint32_t block_size, uint64_t range_blocks, int64_t unchanged_before = 0)
      : entries_(entries),
        parent_(parent),
        block_size_(block_size),
        range_blocks_(std::max<uint64_t>(1, range_blocks)),
        unchanged_before_(unchanged_before) {}

  // Fills the next job and its sequence number (0, 1, 2, ... in path order); false when there
  // are no more. When the parent backup cannot be read, status says so and the job's parent is
  // missing.
  bool Next(size_t& seq, FileJob& job, Status& status);

 private:
  bool Advance(Status& status);
  bool Unchanged(const WalkEntry& we, const repo::FileEntry& parent) const;

  std::mutex mu_;
  const std::vector<WalkEntry>& entries_;
  repo::ManifestReader* parent_;
  const uint32_t block_size_;
  const uint64_t range_blocks_;
  const int64_t unchanged_before_;
  size_t next_entry_ = 0;
  size_t next_seq_ = 0;
  FileJob current_;  // the file whose jobs are being handed out
  uint32_t parts_ = 0, next_part_ = 0;
  repo::FileEntry parent_entry_;
  bool have_parent_ = false;
  bool parent_done_ = false;
};

// Collects finished jobs from the workers and writes entries to the manifest in path order.
// A worker waits in Put when its result is more than window jobs ahead of the oldest unfinished
// one, or when the results already waiting hold more than max_pending_blocks block references:
// that bounds the memory held here whatever the sizes of the files.
class OrderedSink {
 public:
  OrderedSink(repo::ManifestWriter& writer, uint32_t block_size, size_t window,
              size_t max_pending_blocks)
      : writer_(writer),
        block_size_(block_size),
        window_(window),
        max_pending_blocks_(max_pending_blocks) {}
  // Packs the written entries refer to (collected only for retention).
  void CollectPacks(std::set<repo::PackId>* packs) { packs_ = packs; }

  // result: what BackupFile returned for a file job; a directory's or symlink's entry.
  //
  // The parts of a file are joined in order. The file ends at the first part that read less
  // than its range (or vanished): later parts are dropped, as a whole-file job stops at its
  // first short read. A file whose first part vanished has no entry.
  Status Put(size_t seq, const FileJob& job, std::optional<repo::FileEntry> result);
  void Fail(const Status& s);
  Status status();

 private:
  struct Done {
    bool file;
    uint32_t part;
    bool last_part;
    uint64_t block_count;
    std::optional<repo::FileEntry> entry;
  };
  void Take(Done& done);
  Status Write(const repo::FileEntry& entry);

  std::mutex mu_;
  std::condition_variable cv_;
  repo::ManifestWriter& writer_;
  const uint32_t block_size_;
  const size_t window_;
  const size_t max_pending_blocks_;
  size_t next_ = 0;
  std::map<size_t, Done> pending_;
  size_t pending_blocks_ = 0;
  std::optional<repo::FileEntry> joining_;  // the file whose parts are being joined
  bool joining_ended_ = false;              // a part of it read short: drop the rest
  Status status_;
  std::set<repo::PackId>* packs_ = nullptr;
};

}  // namespace pgvault::backup

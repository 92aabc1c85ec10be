#include "backup/file_jobs.h"

#include <cassert>

#include "common/log.h"

namespace pgvault::backup {

bool JobSource::Next(size_t& seq, FileJob& job, Status& status) {
  std::lock_guard lock(mu_);
  if (next_part_ == parts_) {
    if (next_entry_ >= entries_.size()) return false;
    const WalkEntry& we = entries_[next_entry_++];
    current_ = FileJob{.entry = &we};
    parts_ = 1;
    next_part_ = 0;
    if (we.type == repo::EntryType::kFile) {
      // The parent's entries come sorted by path like the walk's: merge the two streams, so
      // the parent is never held in memory whole.
      if (parent_) {
        while (have_parent_ || Advance(status)) {
          if (parent_entry_.path < we.path) {
            have_parent_ = false;
            continue;
          }
          if (parent_entry_.path == we.path && parent_entry_.type == repo::EntryType::kFile) {
            current_.parent = std::make_shared<const ParentFile>(std::move(parent_entry_));
            have_parent_ = false;
          }
          break;
        }
      }
      current_.unchanged = current_.parent && Unchanged(we, current_.parent->entry());
      // Split by the size the walk saw; a job's reading and the join in OrderedSink decide
      // where the file ends if it changed since.
      uint64_t range_bytes = range_blocks_ * block_size_;
      uint64_t ranges = (we.size + range_bytes - 1) / range_bytes;
      if (ranges > 1 && !current_.unchanged) parts_ = static_cast<uint32_t>(ranges);
    }
  }
  job = current_;
  job.part = next_part_;
  job.last_part = next_part_ + 1 == parts_;
  job.first_block = static_cast<uint64_t>(next_part_) * range_blocks_;
  job.block_count = job.last_part ? 0 : range_blocks_;
  seq = next_seq_++;
  if (++next_part_ == parts_) current_ = FileJob{};  // drop this copy of the parent entry
  return true;
}

bool JobSource::Unchanged(const WalkEntry& we, const repo::FileEntry& parent) const {
  return unchanged_before_ > 0 && we.size == parent.size && we.mtime == parent.mtime &&
         parent.mtime < unchanged_before_ &&
         parent.blocks.size() == (parent.size + block_size_ - 1) / block_size_;
}

bool JobSource::Advance(Status& status) {
  if (parent_done_) return false;
  if (parent_->Next(parent_entry_)) {
    have_parent_ = true;
    return true;
  }
  parent_done_ = true;
  // Expired while this backup read it: expire saw this backup's lock and kept the packs, so what
  // was taken from the parent so far stays; the files after this point are read in full.
  if (parent_->status().IsNotFound()) {
    log::Warn("{}; the files after '{}' are read without it", parent_->status().message(),
              parent_entry_.path);
    return false;
  }
  if (!parent_->status().ok()) status = parent_->status().Context("reading the parent backup");
  return false;
}

Status OrderedSink::Put(size_t seq, const FileJob& job, std::optional<repo::FileEntry> result) {
  std::unique_lock lock(mu_);
  // The oldest unfinished job is always let in, so the results waiting here always drain.
  cv_.wait(lock, [&] {
    return !status_.ok() || seq == next_ ||
           (seq < next_ + window_ && pending_blocks_ <= max_pending_blocks_);
  });
  if (!status_.ok()) return status_;
  if (result) pending_blocks_ += result->blocks.size();
  pending_.emplace(seq, Done{.file = job.entry->type == repo::EntryType::kFile,
                             .part = job.part,
                             .last_part = job.last_part,
                             .block_count = job.block_count,
                             .entry = std::move(result)});
  while (status_.ok() && !pending_.empty() && pending_.begin()->first == next_) {
    auto node = pending_.extract(pending_.begin());
    if (node.mapped().entry) pending_blocks_ -= node.mapped().entry->blocks.size();
    Take(node.mapped());
    next_++;
  }
  cv_.notify_all();
  return status_;
}

void OrderedSink::Take(Done& done) {
  if (!done.file) {
    if (done.entry) status_ = Write(*done.entry);
    return;
  }
  // A part that read less than its range ends the file; the last part reads to EOF anyway.
  bool ends_file =
      !done.entry || done.block_count == 0 || done.entry->size < done.block_count * block_size_;
  if (done.part == 0) {
    joining_ = std::move(done.entry);
    joining_ended_ = ends_file;
  } else if (joining_ && !joining_ended_) {
    if (done.entry) {
      // Every part before this one read its whole range, so block indexes line up.
      assert(joining_->size == joining_->blocks.size() * block_size_);
      auto& blocks = done.entry->blocks;
      joining_->blocks.insert(joining_->blocks.end(), std::make_move_iterator(blocks.begin()),
                              std::make_move_iterator(blocks.end()));
      joining_->size += done.entry->size;
    }
    joining_ended_ = ends_file;
  }
  if (!done.last_part || !joining_) return;
  joining_->checksum = repo::FileChecksum(joining_->blocks);
  status_ = Write(*joining_);
  joining_.reset();
}

Status OrderedSink::Write(const repo::FileEntry& entry) {
  if (packs_)
    for (const auto& b : entry.blocks) {
      if (b.zero) continue;
      packs_->insert(b.loc.pack);
      if (b.delta) packs_->insert(b.base_loc.pack);
    }
  return writer_.Add(entry);
}

void OrderedSink::Fail(const Status& s) {
  std::lock_guard lock(mu_);
  if (status_.ok()) status_ = s;
  cv_.notify_all();
}

Status OrderedSink::status() {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace pgvault::backup

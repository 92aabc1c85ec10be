// Backs up one file: reads it slice by slice, skips all-zero blocks, reuses blocks the parent
// backup already stored at the same place (or anywhere in the same file), stores a changed block
// as a delta against the parent's version when that is much smaller, and seals the rest into the
// worker's pack. Runs on a worker thread with its own PackWriter, Hmac and BlockReader.
#pragma once

#include <atomic>
#include <functional>
#include <optional>

#include "backup/pgdata_walk.h"
#include "pipeline/codec.h"
#include "repo/block_reader.h"
#include "repo/manifest.h"
#include "repo/pack.h"

namespace pgvault::backup {

struct BlockCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> blocks{0};
  std::atomic<uint64_t> zero_blocks{0};
  std::atomic<uint64_t> reused_blocks{0};  // found in the parent backup or earlier in the file
  std::atomic<uint64_t> new_blocks{0};     // stored in full
  std::atomic<uint64_t> delta_blocks{0};   // stored as a delta against the parent's version
  std::atomic<uint64_t> files_vanished{0};
};

struct FileJob {
  const WalkEntry* entry;
  std::optional<repo::FileEntry> parent;  // same path in the parent backup, if any
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
};

// nullopt when the file vanished before it could be read (PostgreSQL dropped it meanwhile).
Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, WorkerContext& ctx);

}  // namespace pgvault::backup

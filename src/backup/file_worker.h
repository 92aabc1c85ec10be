// Backs up one file: reads it block by block, skips all-zero blocks, reuses blocks the parent
// backup already stored at the same place (or anywhere in the same file), and seals the rest into
// the worker's pack. Runs on a worker thread with its own PackWriter and Hmac.
#pragma once

#include <atomic>
#include <optional>

#include "backup/pgdata_walk.h"
#include "pipeline/codec.h"
#include "repo/manifest.h"
#include "repo/pack.h"

namespace pgvault::backup {

struct BlockCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> blocks{0};
  std::atomic<uint64_t> zero_blocks{0};
  std::atomic<uint64_t> reused_blocks{0};  // found in the parent backup or earlier in the file
  std::atomic<uint64_t> new_blocks{0};
  std::atomic<uint64_t> files_vanished{0};
};

struct FileJob {
  const WalkEntry* entry;
  std::optional<repo::FileEntry> parent;  // same path in the parent backup, if any
};

// nullopt when the file vanished before it could be read (PostgreSQL dropped it meanwhile).
Result<std::optional<repo::FileEntry>> BackupFile(const FileJob& job, uint32_t block_size,
                                                  pipeline::Hmac& hmac, repo::PackWriter& packs,
                                                  BlockCounters& counters,
                                                  pipeline::StageTimes& times,
                                                  const std::function<void(uint64_t)>& on_read);

}  // namespace pgvault::backup

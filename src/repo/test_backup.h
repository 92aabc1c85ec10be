// Test helper: writes a small backup straight through the repository format (packs of
// incompressible blocks, then the manifest), as backup does, without PostgreSQL. Tests only.
#pragma once

#include <string_view>

#include "pipeline/crypto.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace pgvault::repo {

// One file of `blocks` 8 KiB blocks (seeded by `seed`, so two backups can share or differ),
// packed into packs of about 64 KiB, then the manifest of backup_id.
inline Status WriteTestBackup(Repository& repo, storage::Storage& st, std::string_view backup_id,
                              int blocks = 24, uint64_t seed = 1) {
  pipeline::Hmac hmac(repo.id_key());
  PackWriter packs(st, repo.codec(), 64 << 10, nullptr);
  FileEntry entry{.type = EntryType::kFile, .path = "base/1/16384", .mode = 0600};
  for (int block_idx = 0; block_idx < blocks; ++block_idx) {
    Bytes block(8192);  // incompressible, so the blocks fill several packs
    uint64_t x = 0x9E3779B97F4A7C15ull * (block_idx + seed);
    for (auto& byte : block)
      byte = static_cast<uint8_t>((x = x * 6364136223846793005ull + 1) >> 56);
    BlockRef ref;
    ref.id = hmac.Compute(block);
    PGV_ASSIGN_OR_RETURN(ref.loc, packs.Add(ref.id, block));
    entry.blocks.push_back(ref);
    entry.size += block.size();
  }
  PGV_RETURN_IF_ERROR(packs.Flush());
  entry.checksum = FileChecksum(entry.blocks);
  ManifestWriter manifest(st, repo.codec(), std::string(backup_id), 256);
  PGV_RETURN_IF_ERROR(manifest.Add(entry));
  // The fields backup writes that the repository's own readers need (its WAL range).
  return manifest.Finish({{"backup_id", backup_id},
                          {"wal_segment_size", 16u << 20},
                          {"start_wal", "000000010000000000000002"},
                          {"stop_wal", "000000010000000000000002"}});
}

}  // namespace pgvault::repo

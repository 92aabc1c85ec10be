// Test helper (header only, included by *_test.cc): a repository on an in-memory storage that the
// test can still reach after Repository::Open took ownership.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "pipeline/crypto.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo::testing {

// A repository on `mem` (which must outlive it). Unencrypted by default: creating an encrypted
// one runs scrypt and is slow.
inline std::unique_ptr<Repository> OpenMemRepo(storage::MemStorage& mem, bool encrypted = false,
                                               const Secret& secret = {.passphrase = "pw"}) {
  RepoParams params;
  params.encrypted = encrypted;
  params.pack_size = 1 << 20;
  Status created = Repository::Create(mem, params, secret);
  EXPECT_TRUE(created.ok()) << created.ToString();
  auto repo = Repository::Open(std::make_unique<storage::BorrowedStorage>(mem), secret);
  EXPECT_TRUE(repo.ok()) << repo.status().ToString();
  return repo.ok() ? std::move(repo).value() : nullptr;
}

// Incompressible 8 KiB blocks, different for every seed.
inline Bytes TestBlock(uint64_t seed) {
  Bytes block(8192);
  uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
  for (auto& byte : block) byte = static_cast<uint8_t>((x = x * 6364136223846793005ull + 1) >> 56);
  return block;
}

// Writes `blocks` blocks into packs of pack_size bytes and a manifest of one file that names
// them, as a backup does; every write goes to `st` (e.g. a FaultStorage over repo's storage).
inline Status WriteTestBackup(Repository& repo, storage::Storage& st, std::string_view backup_id,
                              int blocks = 24, uint64_t pack_size = 64 << 10) {
  pipeline::Hmac hmac(repo.id_key());
  PackWriter packs(st, repo.codec(), pack_size, nullptr);
  FileEntry entry{.type = EntryType::kFile, .path = "base/1/16384", .mode = 0600};
  for (int block_idx = 0; block_idx < blocks; ++block_idx) {
    Bytes block = TestBlock(block_idx);
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
  return manifest.Finish({{"backup_id", backup_id}});
}

// Reads every block of every backup back and checks it (the test's own `verify`).
inline Status CheckAllBackups(Repository& repo) {
  PGV_ASSIGN_OR_RETURN(auto ids, ListBackups(repo.storage()));
  pipeline::Hmac hmac(repo.id_key());
  for (const auto& id : ids) {
    PGV_ASSIGN_OR_RETURN(auto reader, ManifestReader::Open(repo.storage(), repo.codec(), id));
    FileEntry entry;
    while (reader->Next(entry)) {
      for (const auto& ref : entry.blocks) {
        if (ref.zero) continue;
        PGV_ASSIGN_OR_RETURN(Bytes sealed, repo.storage().Get(PackKey(ref.loc.pack),
                                                              {ref.loc.offset, ref.loc.size}));
        PGV_ASSIGN_OR_RETURN(Bytes plain, DecodeBlock(repo.codec(), hmac, ref.id, ref.loc, sealed));
      }
    }
    PGV_RETURN_IF_ERROR(reader->status());
  }
  return Status::Ok();
}

}  // namespace pgvault::repo::testing

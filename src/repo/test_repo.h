// Test helper (header only, included by *_test.cc): a repository on an in-memory storage that the
// test can still reach after Repository::Open took ownership.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "pipeline/crypto.h"
#include "repo/block_reader.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo::testing {

// The backup id the repository tests write and read.
constexpr std::string_view kTestBackupId = "20261128-120000F";

// Opens the repository on `st` (often a FaultStorage over a MemStorage), which the test keeps
// and which must outlive the repository.
inline Result<std::unique_ptr<Repository>> OpenOn(storage::Storage& st, const Secret& secret) {
  return Repository::Open(std::make_unique<storage::BorrowedStorage>(st), secret);
}

// A repository on `mem` (which must outlive it). Unencrypted by default: creating an encrypted
// one runs scrypt and is slow.
inline std::unique_ptr<Repository> OpenMemRepo(storage::MemStorage& mem, bool encrypted = false,
                                               const Secret& secret = {
                                                   .passphrase = "unit test passphrase"}) {
  RepoParams params;
  params.encrypted = encrypted;
  params.pack_size = 1 << 20;
  Status created = Repository::Create(mem, params, secret);
  EXPECT_TRUE(created.ok()) << created.ToString();
  auto repo = OpenOn(mem, secret);
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

// A WAL segment that is the one `name` says (timeline and number from the name): the long page
// header at the start (XLogLongPageHeaderData), the rest filled with `fill`.
inline Bytes TestWalSegment(std::string_view name, uint32_t segment_size = 1 << 20,
                            uint8_t fill = 0, uint64_t system_identifier = 7) {
  Bytes segment(segment_size, fill);
  auto hex = [&](size_t at) {
    return static_cast<uint64_t>(std::stoul(std::string(name.substr(at, 8)), nullptr, 16));
  };
  uint64_t page_address = (hex(8) * (0x100000000ull / segment_size) + hex(16)) * segment_size;
  auto put = [&](size_t at, uint64_t value, int bytes) {
    for (int byte_idx = 0; byte_idx < bytes; ++byte_idx)
      segment[at + byte_idx] = static_cast<uint8_t>(value >> (8 * byte_idx));
  };
  put(0, 0xD110, 2);  // xlp_magic of PostgreSQL 15
  put(2, 2, 2);       // xlp_info: XLP_LONG_HEADER
  put(4, hex(0), 4);  // xlp_tli
  put(8, page_address, 8);
  put(16, 0, 8);  // xlp_rem_len and padding
  put(24, system_identifier, 8);
  put(32, segment_size, 4);
  put(36, 8192, 4);  // xlp_xlog_blcksz
  return segment;
}

// Writes `blocks` blocks (TestBlock(first_seed + i)) into packs of pack_size bytes and a manifest
// of one file that names them, as a backup does; every write goes to `st` (e.g. a FaultStorage
// over repo's storage). The header carries the fields the repository's own readers need.
inline Status WriteTestBackup(Repository& repo, storage::Storage& st, std::string_view backup_id,
                              int blocks = 24, uint64_t pack_size = 64 << 10,
                              uint64_t first_seed = 0) {
  pipeline::Hmac hmac(repo.id_key());
  PackWriter packs(st, repo.codec(), pack_size, nullptr);
  FileEntry entry{.type = EntryType::kFile, .path = "base/1/16384", .mode = 0600};
  for (int block_idx = 0; block_idx < blocks; ++block_idx) {
    Bytes block = TestBlock(first_seed + block_idx);
    BlockRef ref;
    ref.id = hmac.Compute(block);
    PGV_ASSIGN_OR_RETURN(ref.loc, packs.Add(ref.id, block));
    entry.blocks.push_back(ref);
    entry.size += block.size();
  }
  PGV_RETURN_IF_ERROR(packs.Flush());
  entry.checksum = FileChecksum(entry.blocks);
  // The cluster record a backup writes first (verify checks it), outside `st`'s faults.
  PGV_RETURN_IF_ERROR(repo.CheckCluster(7, 15, 16 << 20));
  ManifestWriter manifest(st, repo.codec(), std::string(backup_id), 256);
  PGV_RETURN_IF_ERROR(manifest.Add(entry));
  return manifest.Finish({.backup_id = std::string(backup_id),
                          .pg_version = 150000,
                          .system_identifier = "7",
                          .start_wal = "000000010000000000000002",
                          .stop_wal = "000000010000000000000002",
                          .wal_segment_size = 16 << 20,
                          .block_size = 131072});
}

// Reads every block of every backup back as restore does (following redirects) and checks it
// against its id (the test's own `verify`).
inline Status CheckAllBackups(Repository& repo) {
  PGV_ASSIGN_OR_RETURN(auto ids, ListBackups(repo.storage()));
  BlockReader blocks = repo.NewBlockReader(IdCheck::kAlways);
  for (const auto& id : ids) {
    PGV_ASSIGN_OR_RETURN(auto reader, ManifestReader::Open(repo.storage(), repo.codec(), id));
    FileEntry entry;
    while (reader->Next(entry))
      PGV_RETURN_IF_ERROR(blocks.Read(entry.blocks, 0, entry.blocks.size(),
                                      [](size_t, Bytes&) { return Status::Ok(); }));
    PGV_RETURN_IF_ERROR(reader->status());
  }
  return Status::Ok();
}

// Object-lock storage over MemStorage: keys in `locked` are retained; deleting one fails.
class LockingStorage : public storage::BorrowedStorage {
 public:
  LockingStorage(storage::MemStorage& mem, std::set<std::string> locked)
      : BorrowedStorage(mem), locked_(std::move(locked)) {}
  storage::Features features() const override {
    storage::Features f = BorrowedStorage::features();
    f.object_lock = true;
    return f;
  }
  Result<storage::ObjectInfo> Stat(std::string_view key) override {
    PGV_ASSIGN_OR_RETURN(auto info, BorrowedStorage::Stat(key));
    if (locked_.count(std::string(key))) info.retain_until_unix = kUntil;
    return info;
  }
  Status Delete(std::string_view key) override {
    if (locked_.count(std::string(key)))
      return Status::Conflict("'" + std::string(key) + "' is locked");
    return BorrowedStorage::Delete(key);
  }
  static constexpr int64_t kUntil = 2'000'000'000;

 private:
  std::set<std::string> locked_;
};

}  // namespace pgvault::repo::testing

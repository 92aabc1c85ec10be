// Repository writers and readers under storage faults: ENOSPC and EIO while writing a pack, a
// manifest or a WAL object fail with kIo naming the object and leave nothing half-written behind
// (and a retry completes); a short read of a pack range or a WAL object is damage, never data.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "repo/block_reader.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"
#include "storage/fault/fault_storage.h"

namespace pgvault::repo {
namespace {

using storage::FaultStorage;
using storage::MemStorage;
using storage::StorageOp;

using testing::kTestBackupId;
// The smallest header the readers accept.
const ManifestHeader kHeader{
    .backup_id = std::string(kTestBackupId), .wal_segment_size = 16 << 20, .block_size = 131072};

const std::vector<Status>& WriteFailures() {
  static const std::vector<Status> failures = {FaultStorage::NoSpace(), FaultStorage::Eio()};
  return failures;
}

TEST(PackWriterFaultTest, AFailedFlushNamesThePackStoresNothingAndARetryWritesIt) {
  for (const Status& failure : WriteFailures()) {
    SCOPED_TRACE(failure.message());
    MemStorage mem;
    auto repo = testing::OpenMemRepo(mem);
    FaultStorage faulty(mem);
    pipeline::Hmac hmac(repo->id_key());
    PackWriter writer(faulty, repo->codec(), 1 << 20, nullptr);
    Bytes block = testing::TestBlock(1);
    pipeline::Digest id = hmac.Compute(block);
    auto loc = writer.Add(id, block);
    ASSERT_TRUE(loc.ok());
    faulty.FailNth(StorageOp::kPut, 1, failure);
    Status s = writer.Flush();
    EXPECT_EQ(s.code(), Code::kIo);
    EXPECT_EQ(s.message(),
              fmt::format("writing pack: put '{}': {}", PackKey(loc->pack), failure.message()));
    EXPECT_TRUE(mem.List(kPacksPrefix)->empty());
    EXPECT_EQ(writer.stats().packs_written, 0u);
    ASSERT_TRUE(writer.Flush().ok());  // the same pack, complete
    EXPECT_EQ(writer.stats().packs_written, 1u);
    auto sealed = mem.Get(PackKey(loc->pack), {loc->offset, loc->size});
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(*DecodeBlock(repo->codec(), hmac, id, *loc, *sealed), block);
  }
}

TEST(PackWriterFaultTest, AFailedFlushInsideAddIsReturnedByAdd) {
  MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  FaultStorage faulty(mem);
  faulty.FailNth(StorageOp::kPut, 1, FaultStorage::NoSpace());
  pipeline::Hmac hmac(repo->id_key());
  PackWriter writer(faulty, repo->codec(), 16 << 10, nullptr);  // the 2nd block fills it
  Bytes first = testing::TestBlock(1), second = testing::TestBlock(2);
  ASSERT_TRUE(writer.Add(hmac.Compute(first), first).ok());
  auto loc = writer.Add(hmac.Compute(second), second);
  EXPECT_EQ(loc.status().code(), Code::kIo);
  EXPECT_TRUE(loc.status().message().starts_with("writing pack: put 'packs/"));
  EXPECT_TRUE(mem.List(kPacksPrefix)->empty());
}

Status WriteManifest(storage::Storage& st, Repository& repo) {
  ManifestWriter writer(st, repo.codec(), std::string(kTestBackupId), 256);
  FileEntry entry{.type = EntryType::kFile, .path = "PG_VERSION", .mode = 0600, .size = 3};
  PGV_RETURN_IF_ERROR(writer.Add(entry));
  return writer.Finish(kHeader);
}

TEST(ManifestWriterFaultTest, AFailedPartOrHeaderWriteLeavesNoBackup) {
  struct Case {
    std::string key;
    std::string what;
  };
  const std::vector<Case> cases = {{ManifestPartKey(kTestBackupId, 0), "writing manifest part"},
                                   {ManifestKey(kTestBackupId), "writing manifest"}};
  for (const Case& c : cases) {
    for (const Status& failure : WriteFailures()) {
      SCOPED_TRACE(c.key + ": " + failure.message());
      MemStorage mem;
      auto repo = testing::OpenMemRepo(mem);
      FaultStorage faulty(mem);
      faulty.FailNth(StorageOp::kPut, 1, failure, c.key);
      Status s = WriteManifest(faulty, *repo);
      EXPECT_EQ(s.code(), Code::kIo);
      EXPECT_EQ(s.message(), fmt::format("{}: put '{}': {}", c.what, c.key, failure.message()));
      EXPECT_TRUE(mem.Get(ManifestKey(kTestBackupId)).status().IsNotFound());
      EXPECT_TRUE(ListBackups(mem)->empty());
    }
  }
}

TEST(ManifestWriterFaultTest, FinishCanBeRetriedAfterAFailedHeaderWrite) {
  MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  FaultStorage faulty(mem);
  faulty.FailNth(StorageOp::kPut, 1, FaultStorage::NoSpace(), ManifestKey(kTestBackupId));
  ManifestWriter writer(faulty, repo->codec(), std::string(kTestBackupId), 256);
  ASSERT_TRUE(writer.Add({.type = EntryType::kFile, .path = "PG_VERSION", .mode = 0600}).ok());
  EXPECT_EQ(writer.Finish(kHeader).code(), Code::kIo);
  EXPECT_TRUE(ListBackups(mem)->empty());
  ASSERT_TRUE(writer.Finish(kHeader).ok());
  EXPECT_EQ(*ListBackups(mem), std::vector<std::string>{std::string(kTestBackupId)});
  auto reader = ManifestReader::Open(mem, repo->codec(), kTestBackupId);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  FileEntry entry;
  ASSERT_TRUE((*reader)->Next(entry));
  EXPECT_EQ(entry.path, "PG_VERSION");
  EXPECT_FALSE((*reader)->Next(entry));
  EXPECT_TRUE((*reader)->status().ok());
}

TEST(WalStoreFaultTest, AFailedPutStoresNothingAndARetrySucceeds) {
  const std::string name = "000000010000000000000003";
  for (const Status& failure :
       {FaultStorage::NoSpace(), FaultStorage::Eio(), Status::Unavailable("503 SlowDown")}) {
    SCOPED_TRACE(failure.message());
    MemStorage mem;
    auto base = testing::OpenMemRepo(mem);
    FaultStorage faulty(mem);
    auto repo = testing::OpenOn(faulty, {.passphrase = "pw"});
    ASSERT_TRUE(repo.ok());
    faulty.FailNth(StorageOp::kPut, 1, failure);
    auto pushed = PushWal(**repo, name, testing::TestBlock(3));
    EXPECT_EQ(pushed.status().code(), failure.code());
    EXPECT_EQ(pushed.status().message(),
              fmt::format("archiving '{}': put '{}': {}", name, *WalKey(name), failure.message()));
    EXPECT_TRUE(mem.List(kWalPrefix)->empty());
    EXPECT_EQ(GetWal(**repo, name).status().code(), Code::kNotFound);
    auto retried = PushWal(**repo, name, testing::TestBlock(3));
    ASSERT_TRUE(retried.ok()) << retried.status().ToString();
    EXPECT_EQ(*retried, PushOutcome::kStored);
    EXPECT_EQ(*GetWal(**repo, name), testing::TestBlock(3));
  }
}

TEST(ShortReadTest, AShortWalReadIsCorruptionNotData) {
  for (uint64_t keep : {0u, 5u, 100u, 8000u}) {
    SCOPED_TRACE(keep);
    MemStorage mem;
    auto base = testing::OpenMemRepo(mem);
    FaultStorage faulty(mem);
    auto repo = testing::OpenOn(faulty, {.passphrase = "pw"});
    ASSERT_TRUE(repo.ok());
    const std::string name = "000000010000000000000003";
    ASSERT_TRUE(PushWal(**repo, name, testing::TestBlock(3)).ok());
    faulty.ShortReadNth(1, keep, std::string(kWalPrefix));
    auto got = GetWal(**repo, name);
    EXPECT_EQ(got.status().code(), Code::kCorruption);
    const std::string key = *WalKey(name);
    EXPECT_EQ(got.status().message(),
              keep < 8 ? fmt::format("WAL object '{}' has no pgvault header", key)
                       : fmt::format("WAL object '{}' is damaged: crc32 mismatch", key));
    EXPECT_EQ(*GetWal(**repo, name), testing::TestBlock(3));  // read in full
  }
}

TEST(ShortReadTest, AShortPackRangeIsCorruptionNotData) {
  MemStorage mem;
  auto base = testing::OpenMemRepo(mem);
  FaultStorage faulty(mem);
  auto repo = testing::OpenOn(faulty, {.passphrase = "pw"});
  ASSERT_TRUE(repo.ok());
  ASSERT_TRUE(testing::WriteTestBackup(**repo, mem, kTestBackupId, 4, 1 << 20).ok());
  auto reader = ManifestReader::Open(mem, (*repo)->codec(), kTestBackupId);
  ASSERT_TRUE(reader.ok());
  FileEntry entry;
  ASSERT_TRUE((*reader)->Next(entry));
  ASSERT_EQ(entry.blocks.size(), 4u);
  // The four blocks sit side by side in one pack: one ranged read. Short once, the re-read of the
  // damaged block (Storage::GetChecked) heals it and every block comes back right.
  BlockLocation first = entry.blocks[0].loc, last = entry.blocks[3].loc;
  uint64_t run = last.offset + last.size - first.offset;
  faulty.ShortReadNth(1, run - 1000, std::string(kPacksPrefix));
  BlockReader blocks(faulty, (*repo)->codec(), (*repo)->id_key());
  size_t delivered = 0;
  auto count_right_blocks = [&](size_t idx, Bytes& plain) {
    EXPECT_EQ(plain, testing::TestBlock(idx));
    delivered++;
    return Status::Ok();
  };
  ASSERT_TRUE(blocks.Read(entry.blocks, 0, 4, count_right_blocks).ok());
  EXPECT_EQ(delivered, 4u);
  // Short every time: kCorruption naming the block, and nothing of it delivered.
  faulty.ShortReadNth(1, first.size - 1000, std::string(kPacksPrefix), /*repeat=*/true);
  delivered = 0;
  Status s = blocks.Read(entry.blocks, 0, 4, count_right_blocks);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            fmt::format("block at offset {} of pack '{}' is truncated ({} of {} bytes)",
                        first.offset, PackKey(first.pack), first.size - 1000, first.size));
  EXPECT_EQ(delivered, 0u);
  faulty.Clear();
  // The whole range read again is fine.
  delivered = 0;
  ASSERT_TRUE(blocks
                  .Read(entry.blocks, 0, 4,
                        [&](size_t, Bytes&) {
                          delivered++;
                          return Status::Ok();
                        })
                  .ok());
  EXPECT_EQ(delivered, 4u);
}

}  // namespace
}  // namespace pgvault::repo

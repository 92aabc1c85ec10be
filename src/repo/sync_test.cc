// repo-sync between two in-memory repositories: a complete copy, refusing damaged source
// objects without copying them, and interrupted syncs that the next sync completes.
#include "repo/sync.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "repo/layout.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"
#include "storage/fault/fault_storage.h"

namespace pgvault::repo {
namespace {

using storage::FaultStorage;
using storage::MemStorage;

const std::string kSegment = "000000010000000000000003";
const std::string kSecret = "pw";

// A source repository with one backup (several packs) and two WAL objects.
std::unique_ptr<Repository> MakeSource(MemStorage& mem) {
  auto repo = testing::OpenMemRepo(mem);
  EXPECT_TRUE(testing::WriteTestBackup(*repo, repo->storage(), testing::kTestBackupId).ok());
  EXPECT_TRUE(PushWal(*repo, kSegment, testing::TestWalSegment(kSegment)).ok());
  EXPECT_TRUE(PushWal(*repo, "00000002.history", AsBytes("1\t0/3000158\treason\n")).ok());
  return repo;
}

std::vector<std::string> Keys(MemStorage& mem) {
  std::vector<std::string> out;
  auto objects = mem.List("");
  EXPECT_TRUE(objects.ok());
  if (objects.ok())
    for (const auto& obj : *objects) out.push_back(obj.key);
  return out;
}

// The target opens as the same repository, lists the backup, and every block and WAL file in
// it reads back and verifies.
void ExpectCompleteReplica(MemStorage& source, MemStorage& target) {
  EXPECT_EQ(Keys(target), Keys(source));
  auto replica = testing::OpenOn(target, {.passphrase = kSecret});
  ASSERT_TRUE(replica.ok()) << replica.status().ToString();
  EXPECT_EQ(*ListBackups(target), std::vector<std::string>{std::string(testing::kTestBackupId)});
  Status checked = testing::CheckAllBackups(**replica);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  auto wal = GetWal(**replica, kSegment);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  EXPECT_EQ(*wal, testing::TestWalSegment(kSegment));
}

TEST(RepoSyncTest, CopiesEverythingAndASecondSyncCopiesNothing) {
  MemStorage source_mem, target;
  auto source = MakeSource(source_mem);
  auto stats = SyncRepository(*source, target, 3);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->objects_copied, Keys(source_mem).size());
  EXPECT_EQ(stats->objects_present, 0u);
  ExpectCompleteReplica(source_mem, target);

  auto again = SyncRepository(*source, target, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->objects_copied, 0u);
  EXPECT_EQ(again->bytes_copied, 0u);
  EXPECT_EQ(again->objects_present, Keys(source_mem).size());
}

TEST(RepoSyncTest, RefusesATargetThatHoldsAnotherRepository) {
  MemStorage source_mem, other;
  auto source = MakeSource(source_mem);
  ASSERT_TRUE(Repository::Create(other, {.encrypted = false}, {.passphrase = kSecret}).ok());
  auto before = Keys(other);
  auto stats = SyncRepository(*source, other, 1);
  EXPECT_EQ(stats.status().code(), Code::kConflict);
  EXPECT_EQ(stats.status().message(), "'mem:' holds another repository, not a replica of 'mem:'");
  EXPECT_EQ(Keys(other), before);
}

// Flips one byte in the middle of the first object under prefix; returns its key.
std::string Damage(MemStorage& mem, std::string_view prefix) {
  auto objects = mem.List(prefix);
  EXPECT_FALSE(objects->empty()) << prefix;
  const std::string key = objects->front().key;
  Bytes* obj = mem.Mutable(key);
  (*obj)[obj->size() / 2] ^= 0x20;
  return key;
}

TEST(RepoSyncTest, ADamagedSourceObjectIsRefusedAndNotCopied) {
  for (std::string prefix :
       {std::string(kPacksPrefix), std::string(kWalPrefix) + "00000001/",
        ManifestPartKey(testing::kTestBackupId, 0), ManifestKey(testing::kTestBackupId)}) {
    SCOPED_TRACE(prefix);
    MemStorage source_mem, target;
    auto source = MakeSource(source_mem);
    const std::string damaged = Damage(source_mem, prefix);
    auto stats = SyncRepository(*source, target, 2);
    EXPECT_EQ(stats.status().code(), Code::kCorruption);
    EXPECT_EQ(ExitCode(stats.status()), 5);
    EXPECT_TRUE(stats.status().message().starts_with("syncing into 'mem:': "))
        << stats.status().message();
    EXPECT_NE(stats.status().message().find(damaged), std::string::npos)
        << stats.status().message();
    EXPECT_TRUE(target.Get(damaged).status().IsNotFound());
    // Nothing that depends on the damaged object, and no `config`: the target is no repository
    // (and lists no backup) until a sync completes.
    EXPECT_TRUE(target.Get(kConfigKey).status().IsNotFound());
    EXPECT_TRUE(ListBackups(target)->empty());
    // Every object the target did get is a verified, byte-identical copy (but the sync's own
    // incomplete markers).
    for (const auto& key : Keys(target))
      if (!IsIncompleteMarkerKey(key)) {
        EXPECT_EQ(*target.Get(key), *source_mem.Get(key)) << key;
      }
  }
}

TEST(RepoSyncTest, ADamagedPackIsNamedWithTheBlock) {
  MemStorage source_mem, target;
  auto source = MakeSource(source_mem);
  auto packs = source_mem.List(kPacksPrefix);
  const std::string key = packs->front().key;
  (*source_mem.Mutable(key))[10] ^= 0x01;  // inside the first blob
  auto stats = SyncRepository(*source, target, 1);
  EXPECT_EQ(stats.status().code(), Code::kCorruption);
  EXPECT_EQ(
      stats.status().message(),
      fmt::format("syncing into 'mem:': block at offset 0 of pack '{}': crc32 mismatch", key));
}

TEST(RepoSyncTest, AShortReadOfTheSourceIsRefusedAsDamage) {
  MemStorage source_mem, target;
  auto source = MakeSource(source_mem);
  FaultStorage faulty_source(source_mem);
  auto via_fault = testing::OpenOn(faulty_source, {.passphrase = kSecret});
  ASSERT_TRUE(via_fault.ok());
  faulty_source.ShortReadNth(1, 20, std::string(kWalPrefix));
  auto stats = SyncRepository(**via_fault, target, 1);
  EXPECT_EQ(stats.status().code(), Code::kCorruption) << stats.status().ToString();
  EXPECT_TRUE(ListBackups(target)->empty());
  // Read again in full, the next sync completes.
  ASSERT_TRUE(SyncRepository(**via_fault, target, 1).ok());
  ExpectCompleteReplica(source_mem, target);
}

TEST(RepoSyncTest, AnInterruptedSyncLeavesNoRepositoryAndTheNextOneCompletes) {
  MemStorage source_mem;
  auto source = MakeSource(source_mem);
  const uint64_t total = Keys(source_mem).size();
  for (uint64_t crash_at = 0; crash_at < total; ++crash_at) {
    SCOPED_TRACE(fmt::format("crash after {} of {} writes", crash_at, total));
    MemStorage target;
    FaultStorage faulty(target);
    faulty.CrashAfterWrites(crash_at);
    auto stats = SyncRepository(*source, faulty, 1);
    EXPECT_EQ(stats.status().code(), Code::kIo);
    EXPECT_EQ(Keys(target).size(), crash_at);
    // Until `config` arrives (last) the target is not a repository, so nobody uses a part.
    auto opened = testing::OpenOn(target, {.passphrase = kSecret});
    EXPECT_EQ(opened.status().code(), Code::kConfig);
    // The incomplete markers among the writes are the sync's own, not copies.
    uint64_t markers = std::ranges::count_if(Keys(target), IsIncompleteMarkerKey);
    auto resumed = SyncRepository(*source, target, 2);
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    EXPECT_EQ(resumed->objects_present, crash_at - markers);
    EXPECT_EQ(resumed->objects_copied, total - (crash_at - markers));
    ExpectCompleteReplica(source_mem, target);
  }
}

TEST(RepoSyncTest, AFailedPutStopsTheSyncWithItsErrorAndARetryCompletes) {
  for (Status failure : {FaultStorage::NoSpace(), Status::Unavailable("503 SlowDown")}) {
    SCOPED_TRACE(failure.ToString());
    MemStorage source_mem, target;
    auto source = MakeSource(source_mem);
    FaultStorage faulty(target);
    faulty.FailNth(storage::StorageOp::kPut, 2, failure, std::string(kPacksPrefix));
    auto stats = SyncRepository(*source, faulty, 1);
    EXPECT_EQ(stats.status().code(), failure.code());
    auto packs = source_mem.List(kPacksPrefix);
    EXPECT_EQ(stats.status().message(),
              fmt::format("syncing into 'mem:': put '{}': {}", (*packs)[1].key, failure.message()));
    EXPECT_TRUE(target.Get(kConfigKey).status().IsNotFound());
    ASSERT_TRUE(SyncRepository(*source, faulty, 1).ok());
    ExpectCompleteReplica(source_mem, target);
  }
}

}  // namespace
}  // namespace pgvault::repo

// gc --repack on the in-memory storage: the plan, the redirect object's round trip, a repack
// followed by the gc that frees the old packs, a second repack of repacked blocks (no chains),
// packs retained by object lock, and a crash after every write of a repacking run.
#include "retention/repack.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pipeline/delta.h"
#include "repo/layout.h"
#include "repo/redirect.h"
#include "repo/sync.h"
#include "repo/test_repo.h"
#include "storage/fault/fault_storage.h"
#include "storage/mem/mem_storage.h"
#include "verify/objects.h"

namespace pgvault::retention {
namespace {

using storage::FaultStorage;
using storage::MemStorage;

constexpr int64_t kT = 1'800'000'000'000'000;  // microseconds
constexpr int64_t kGrace = 3600;
constexpr char kOld[] = "20261202-010000F";      // 24 blocks, 8 packs of 3
constexpr char kHalf[] = "20261202-010001F";     // every 2nd block of kOld
constexpr char kQuarter[] = "20261202-010002F";  // every 4th block of kOld

// The value of a listing (an empty one when it failed, which the test then reports).
template <typename T>
T Value(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : T{};
}

size_t Count(MemStorage& mem, std::string_view prefix) { return Value(mem.List(prefix)).size(); }
uint64_t PackBytes(MemStorage& mem) {
  uint64_t bytes = 0;
  for (const auto& obj : Value(mem.List(repo::kPacksPrefix)))
    if (repo::PackIdFromKey(obj.key)) bytes += obj.size;
  return bytes;
}
size_t Redirects(MemStorage& mem) { return Value(repo::ListRedirects(mem)).size(); }

// Backup `id`'s manifest: the one file `entry` (its checksum filled in here).
Status WriteOneFileManifest(repo::Repository& repo, const std::string& id, repo::FileEntry& entry) {
  entry.checksum = repo::FileChecksum(entry.blocks);
  repo::ManifestWriter manifest(repo.storage(), repo.codec(), id, 256);
  PGV_RETURN_IF_ERROR(manifest.Add(entry));
  return manifest.Finish({.backup_id = id,
                          .pg_version = 150000,
                          .system_identifier = "7",
                          .start_wal = "000000010000000000000002",
                          .stop_wal = "000000010000000000000002",
                          .wal_segment_size = 16 << 20,
                          .block_size = 8192});
}

// A backup whose one file names every `step`-th block of `from`'s file, as a backup that reuses
// its parent's blocks does (same locations).
Status WriteReusingBackup(repo::Repository& repo, const std::string& from, const std::string& id,
                          size_t step) {
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(from));
  repo::FileEntry source, entry{.type = repo::EntryType::kFile, .path = "base/1/16384"};
  if (!reader->Next(source)) return Status::NotFound("no file");
  for (size_t idx = 0; idx < source.blocks.size(); idx += step) {
    entry.blocks.push_back(source.blocks[idx]);
    entry.size += 8192;
  }
  return WriteOneFileManifest(repo, id, entry);
}

void RemoveBackup(MemStorage& mem, const std::string& id) {
  for (const auto& obj : Value(mem.List(repo::BackupPrefix(id))))
    ASSERT_TRUE(mem.Delete(obj.key).ok());
}

// kOld, then kHalf and kQuarter reusing its blocks, then kOld removed: every pack of kOld is
// half live.
void MakeHalfLivePacks(MemStorage& mem, repo::Repository& repo) {
  ASSERT_TRUE(repo::testing::WriteTestBackup(repo, mem, kOld, 24, 3 * 8192).ok());
  ASSERT_TRUE(WriteReusingBackup(repo, kOld, kHalf, 2).ok());
  ASSERT_TRUE(WriteReusingBackup(repo, kOld, kQuarter, 4).ok());
  RemoveBackup(mem, kOld);
}

// verify's reference check: every block the backups name is in the index of the pack that holds
// it now, every current redirect points at blocks that exist.
std::vector<std::string> ReferenceProblems(repo::Repository& repo) {
  auto table = verify::PackTable::List(repo);
  EXPECT_TRUE(table.ok());
  std::vector<std::string> out;
  for (const auto& id : Value(repo.ListBackups())) {
    auto reader = repo.OpenManifest(id);
    EXPECT_TRUE(reader.ok());
    repo::FileEntry e;
    while ((*reader)->Next(e))
      for (const auto& b : e.blocks)
        if (auto problem = table->Mark(b.loc, b.id)) out.push_back(*problem);
  }
  table->LoadAll();
  for (const auto& p : table->problems()) out.push_back(p);
  return out;
}

GcOptions Repacking(int64_t micros, int threshold = 70) {
  return {.grace_seconds = kGrace,
          .now_unix_micros = micros,
          .repack = true,
          .repack_threshold_percent = threshold};
}
int64_t After(int graces) { return kT + graces * kGrace * 1000000; }

TEST(RepackTest, RedirectRoundTripsAndRefusesAnotherName) {
  for (bool encrypted : {false, true}) {
    MemStorage mem;
    auto repo = repo::testing::OpenMemRepo(mem, encrypted);
    repo::Redirect r{.old_pack = {1, 2, 3}, .generation = 7};
    r.entries.push_back({.old_offset = 0, .size = 100, .id = {9}, .pack = {4}, .offset = 500});
    r.entries.push_back({.old_offset = 100, .size = 50, .id = {8}, .pack = {5}, .offset = 0});
    Bytes data = repo::EncodeRedirect(repo->codec(), r);
    std::string key = repo::RedirectKey(r.old_pack, 7);
    EXPECT_EQ(repo::ClassifyKey(key), repo::ObjectKind::kRedirect);
    EXPECT_EQ(repo::PackIdFromKey(key), std::nullopt);
    auto back = repo::DecodeRedirect(repo->codec(), key, data);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->generation, 7u);
    ASSERT_EQ(back->entries.size(), 2u);
    const repo::RedirectEntry* e = back->Find(100, 50);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->pack, (repo::PackId{5}));
    EXPECT_EQ(back->Find(100, 51), nullptr);
    // Copied under another pack's or generation's name, or damaged: refused, never misread.
    auto other = repo::DecodeRedirect(repo->codec(), repo::RedirectKey(r.old_pack, 8), data);
    EXPECT_EQ(other.status().code(), Code::kCorruption);
    data[data.size() / 2] ^= 1;
    EXPECT_EQ(repo::DecodeRedirect(repo->codec(), key, data).status().code(), Code::kCorruption);
  }
  for (const char* bad : {"packs/01/0102.moved.000001",
                          "packs/ab/ab000000000000000000000000000000"
                          ".moved.1"})
    EXPECT_EQ(repo::ParseRedirectKey(bad), std::nullopt) << bad;
}

TEST(RepackTest, PlanPicksPacksBelowTheThreshold) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  MakeHalfLivePacks(mem, *repo);
  auto live = FindLivePacks(*repo, true);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  auto packs = repo->ListPacks();
  ASSERT_TRUE(packs.ok());
  ASSERT_EQ(packs->size(), 8u);
  auto at70 = PlanRepack(*live, *packs, 70);
  ASSERT_TRUE(at70.ok());
  EXPECT_EQ(at70->size(), 8u);  // each holds 1 or 2 live blocks of 3 (kHalf's even ones)
  size_t live_blocks = 0;
  for (const auto& c : *at70) live_blocks += c.live.size();
  EXPECT_EQ(live_blocks, 12u);
  auto at40 = PlanRepack(*live, *packs, 40);
  ASSERT_TRUE(at40.ok());
  EXPECT_EQ(at40->size(), 4u);  // the packs with one live block of 3
  auto at30 = PlanRepack(*live, *packs, 30);
  ASSERT_TRUE(at30.ok());
  EXPECT_EQ(at30->size(), 0u);
}

TEST(RepackTest, RepackThenGcFreesTheOldPacksAndEveryBackupReads) {
  for (bool encrypted : {false, true}) {
    MemStorage mem;
    auto repo = repo::testing::OpenMemRepo(mem, encrypted);
    MakeHalfLivePacks(mem, *repo);
    uint64_t before = PackBytes(mem);
    auto first = RunGc(*repo, Repacking(kT));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->repacked.packs_repacked, 8u);
    EXPECT_EQ(first->repacked.redirects_written, 8u);
    EXPECT_GE(first->repacked.packs_written, 1u);
    EXPECT_EQ(first->packs_marked, 8u);  // the old packs: deleted by a gc a grace period later
    EXPECT_EQ(repo->config().format, repo::kFormatRedirects);
    EXPECT_EQ(Redirects(mem), 8u);
    ASSERT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
    EXPECT_TRUE(ReferenceProblems(*repo).empty());
    EXPECT_NE(GcText(*first).find("repacked 8 packs"), std::string::npos) << GcText(*first);

    auto second = RunGc(*repo, Repacking(After(1)));
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->collected.packs_deleted, 8u);
    EXPECT_EQ(second->repacked.packs_repacked, 0u);  // the new packs are full
    uint64_t after = PackBytes(mem);
    // The 12 dead blocks of 8192 bytes (and more: 8 pack trailers became 1 or 2) are gone.
    EXPECT_LE(after + 12 * 8192, before) << before << " -> " << after;
    Status read = repo::testing::CheckAllBackups(*repo);
    EXPECT_TRUE(read.ok()) << read.ToString();
    auto problems = ReferenceProblems(*repo);
    EXPECT_TRUE(problems.empty()) << problems.front();
    // What backup --retain-days and hold lock in place of a moved pack: its redirect and the
    // packs it points into.
    auto redirect = Value(repo::ListRedirects(mem)).at(0);
    auto moved = repo::MovedPackKeys(mem, repo->codec(), redirect.name.old_pack);
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    ASSERT_GE(moved->size(), 2u);
    EXPECT_EQ(moved->front(), redirect.object.key);
    EXPECT_TRUE(mem.Stat(moved->back()).ok());
    EXPECT_EQ(repo::MovedPackKeys(mem, repo->codec(), repo::PackId{7}).status().code(),
              Code::kNotFound);
    // A reopened repository (format 2) reads the same.
    auto reopened = repo::testing::OpenOn(mem, {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_TRUE(repo::testing::CheckAllBackups(**reopened).ok());
  }
}

TEST(RepackTest, RepackingMovedBlocksWritesTheNextGenerationNotAChain) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  MakeHalfLivePacks(mem, *repo);
  ASSERT_TRUE(RunGc(*repo, Repacking(kT)).ok());
  ASSERT_TRUE(RunGc(*repo, Repacking(After(1))).ok());  // the old packs go
  std::set<std::string> first_packs;
  for (const auto& p : Value(repo->ListPacks())) first_packs.insert(p.object.key);
  // kHalf goes: the repacked packs are half live now.
  RemoveBackup(mem, kHalf);
  auto again = RunGc(*repo, Repacking(After(2)));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->repacked.packs_repacked, first_packs.size());
  // Generation 2 for the original packs that kQuarter still names (blocks 0, 4, .., 20 are in 6
  // of the 8), none for the repacked packs themselves: no backup names those.
  EXPECT_EQ(again->repacked.redirects_written, 6u);
  EXPECT_EQ(again->redirects_marked, 2u + 6u);  // the 2 no backup names, and 6 superseded
  ASSERT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
  auto last = RunGc(*repo, Repacking(After(3)));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->redirects_deleted, 8u);
  EXPECT_EQ(Redirects(mem), 6u);
  for (const auto& r : Value(repo::ListRedirects(mem))) EXPECT_EQ(r.name.generation, 2u);
  for (const auto& p : Value(repo->ListPacks())) EXPECT_EQ(first_packs.count(p.object.key), 0u);
  Status read = repo::testing::CheckAllBackups(*repo);
  EXPECT_TRUE(read.ok()) << read.ToString();
  auto problems = ReferenceProblems(*repo);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(RepackTest, LockedPacksAreSkippedAndNamed) {
  MemStorage mem;
  std::string locked;
  {
    auto repo = repo::testing::OpenMemRepo(mem);
    MakeHalfLivePacks(mem, *repo);
    locked = Value(repo->ListPacks()).at(0).object.key;
  }
  repo::testing::LockingStorage lockable(mem, {locked});
  auto repo = repo::testing::OpenOn(lockable, {.passphrase = "unit test passphrase"});
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto r = RunGc(**repo, Repacking(kT));  // before LockingStorage::kUntil
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repacked.packs_repacked, 7u);
  ASSERT_EQ(r->repacked.locked_keys.size(), 1u);
  EXPECT_NE(GcText(*r).find("not repacked, locked: " + locked), std::string::npos) << GcText(*r);
  EXPECT_TRUE(repo::testing::CheckAllBackups(**repo).ok());
}

// A backup of delta blocks whose bases lie in kOld's packs; half of the deltas written are
// named by no backup, so the delta pack is half dead.
Status WriteDeltaBackup(repo::Repository& repo, const std::string& id) {
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(kOld));
  repo::FileEntry source, entry{.type = repo::EntryType::kFile, .path = "base/1/16385"};
  if (!reader->Next(source)) return Status::NotFound("no file");
  pipeline::Hmac hmac(repo.id_key());
  repo::PackWriter packs(repo.storage(), repo.codec(), 1 << 20, nullptr);
  for (size_t idx = 0; idx < 12; idx += 2) {
    const repo::BlockRef& base = source.blocks[idx];
    Bytes block = repo::testing::TestBlock(idx);
    for (size_t byte_idx = 0; byte_idx < 100; ++byte_idx) block[byte_idx] ^= 0x5a;
    Bytes frame;
    PGV_RETURN_IF_ERROR(pipeline::DeltaEncode(repo::testing::TestBlock(idx), block, 3, frame));
    repo::BlockRef ref{
        .id = hmac.Compute(block), .delta = true, .base_id = base.id, .base_loc = base.loc};
    PGV_ASSIGN_OR_RETURN(ref.loc, packs.AddDelta(ref.id, frame, block.size(), base.id, base.loc));
    if (idx % 4 == 0) {
      entry.blocks.push_back(ref);
      entry.size += block.size();
    }
  }
  PGV_RETURN_IF_ERROR(packs.Flush());
  return WriteOneFileManifest(repo, id, entry);
}

TEST(RepackTest, DeltaBlocksAndTheirBasesMoveAndStillDecode) {
  for (bool encrypted : {false, true}) {
    MemStorage mem;
    auto repo = repo::testing::OpenMemRepo(mem, encrypted);
    ASSERT_TRUE(repo::testing::WriteTestBackup(*repo, mem, kOld, 24, 3 * 8192).ok());
    ASSERT_TRUE(WriteDeltaBackup(*repo, kHalf).ok());
    RemoveBackup(mem, kOld);
    auto first = RunGc(*repo, Repacking(kT));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    // The packs of the bases (blocks 0, 4, 8: packs 0, 1, 2 of kOld) and the delta pack.
    EXPECT_EQ(first->repacked.packs_repacked, 4u);
    auto second = RunGc(*repo, Repacking(After(1)));
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->collected.packs_deleted, 8u + 1u);  // kOld's 8, the old delta pack
    Status read = repo::testing::CheckAllBackups(*repo);
    EXPECT_TRUE(read.ok()) << read.ToString();
    auto problems = ReferenceProblems(*repo);
    EXPECT_TRUE(problems.empty()) << problems.front();
    // Every pack checks on its own, a delta's base found through its redirect (as repo-sync does).
    pipeline::Hmac hmac(repo->id_key());
    for (const auto& p : Value(repo->ListPacks())) {
      Bytes data = Value(mem.Get(p.object.key));
      Status s = repo::VerifyPack(mem, repo->codec(), hmac, p.id, data);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  }
}

// The format check that makes pgvault before repack refuse a format 2 repository, one version
// up: a repository of a format newer than this pgvault reads is refused at open, clearly.
TEST(RepackTest, ANewerFormatIsRefusedAtOpen) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  EXPECT_EQ(repo->config().format, repo::kFormatBase);
  ASSERT_TRUE(repo->RaiseFormat(repo::kFormatRedirects).ok());
  ASSERT_TRUE(repo->RaiseFormat(repo::kFormatBase).ok());  // never lowered
  auto two = repo::testing::OpenOn(mem, {});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ((*two)->config().format, repo::kFormatRedirects);
  ASSERT_TRUE(repo->RaiseFormat(repo::kFormatVersion + 1).ok());
  auto newer = repo::testing::OpenOn(mem, {});
  ASSERT_EQ(newer.status().code(), Code::kConfig);
  EXPECT_NE(
      newer.status().message().find(fmt::format("has format {}, this pgvault reads {}",
                                                repo::kFormatVersion + 1, repo::kFormatVersion)),
      std::string::npos)
      << newer.status().ToString();
}

// repo-sync copies redirects after the packs they point into, and raises a replica synced before
// the repack to format 2 (last, after the redirects).
TEST(RepackTest, SyncCopiesRedirectsAndRaisesTheReplicasFormat) {
  MemStorage mem, replica;
  auto repo = repo::testing::OpenMemRepo(mem);
  MakeHalfLivePacks(mem, *repo);
  ASSERT_TRUE(repo::SyncRepository(*repo, replica, 2).ok());
  ASSERT_TRUE(RunGc(*repo, Repacking(kT)).ok());
  ASSERT_TRUE(RunGc(*repo, Repacking(After(1))).ok());
  auto synced = repo::SyncRepository(*repo, replica, 2);
  ASSERT_TRUE(synced.ok()) << synced.status().ToString();
  EXPECT_EQ(Redirects(replica), 8u);
  auto copy = repo::testing::OpenOn(replica, {.passphrase = "unit test passphrase"});
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->config().format, repo::kFormatRedirects);
  // The replica keeps the old packs too (sync never deletes); with them gone, it reads the same.
  for (const auto& p : Value((*copy)->ListPacks())) {
    if (!mem.Stat(p.object.key).ok()) {
      ASSERT_TRUE(replica.Delete(p.object.key).ok());
    }
  }
  Status read = repo::testing::CheckAllBackups(**copy);
  EXPECT_TRUE(read.ok()) << read.ToString();
}

TEST(RepackTest, DryRunWritesNothing) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  MakeHalfLivePacks(mem, *repo);
  size_t objects = Count(mem, "");
  GcOptions o = Repacking(kT);
  o.dry_run = true;
  auto r = RunGc(*repo, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repacked.packs_repacked, 8u);
  EXPECT_GE(r->repacked.bytes_copied, 12u * 8192);  // the live blocks, sealed
  EXPECT_LT(r->repacked.bytes_copied, 12u * 8400);
  EXPECT_EQ(Count(mem, ""), objects);
  EXPECT_EQ(repo->config().format, repo::kFormatBase);
  EXPECT_NE(GcText(*r).find("would repack 8 packs"), std::string::npos) << GcText(*r);
}

// A crash (kill -9, power cut) after each write of a repacking run leaves every backup readable,
// and the next runs finish the job.
TEST(RepackTest, ACrashAfterAnyWriteLeavesEveryBackupReadable) {
  for (uint64_t writes = 0;; ++writes) {
    MemStorage mem;
    {
      auto setup = repo::testing::OpenMemRepo(mem);
      MakeHalfLivePacks(mem, *setup);
    }
    FaultStorage faulty(mem);
    auto repo = repo::testing::OpenOn(faulty, {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(repo.ok());
    faulty.CrashAfterWrites(writes);
    auto crashed = RunGc(**repo, Repacking(kT));
    bool finished = !faulty.crashed() || crashed.ok();
    faulty.Clear();
    // After the crash, a new process. The dead run's gc lock is left behind (gc takes a stale
    // one over once its owner is gone; here it is removed by hand).
    auto reopened = repo::testing::OpenOn(mem, {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(reopened.ok()) << writes << ": " << reopened.status().ToString();
    Status read = repo::testing::CheckAllBackups(**reopened);
    ASSERT_TRUE(read.ok()) << "crash after " << writes << " writes: " << read.ToString();
    ASSERT_TRUE(mem.Delete(repo::kGcLockKey).ok());
    ASSERT_TRUE(mem.Delete(repo::kGcLeaseKey).ok());
    // gc runs until one has nothing left to do: it repacks, marks and deletes nothing.
    bool settled = false;
    for (int run = 1; run <= 6 && !settled; ++run) {
      auto r = RunGc(**reopened, Repacking(After(run)));
      ASSERT_TRUE(r.ok()) << writes << ": " << r.status().ToString();
      read = repo::testing::CheckAllBackups(**reopened);
      ASSERT_TRUE(read.ok()) << "after crash " << writes << ", run " << run << ": "
                             << read.ToString();
      settled = r->repacked.packs_repacked == 0 && r->packs_marked == 0 &&
                r->redirects_marked == 0 && r->collected.packs_deleted == 0 &&
                r->redirects_deleted == 0;
    }
    EXPECT_TRUE(settled) << writes;
    auto problems = ReferenceProblems(**reopened);
    EXPECT_TRUE(problems.empty()) << writes << ": " << problems.front();
    // The dead blocks are freed: what is left is the 12 live blocks, in packs at least 70 % live.
    EXPECT_LT(PackBytes(mem), 12u * 8400 * 100 / 70) << writes;
    if (finished) break;
  }
}

}  // namespace
}  // namespace pgvault::retention

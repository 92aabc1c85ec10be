// gc on the in-memory storage: two phases (a pack is deleted only by a run at least the grace
// period after a run marked it), running and stale backup locks, the gc lock, and a crash after
// every write of a deleting run.
#include "retention/gc.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>

#include "repo/backup_lock.h"
#include "repo/layout.h"
#include "repo/test_repo.h"
#include "storage/fault/fault_storage.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::retention {
namespace {

using storage::BorrowedStorage;
using storage::FaultStorage;
using storage::MemStorage;

constexpr int64_t kT = 1'800'000'000'000'000;  // microseconds
constexpr int64_t kGrace = 3600;
constexpr char kGone[] = "20261202-010000F";
constexpr char kKept[] = "20261202-010001F";

size_t Count(MemStorage& mem, std::string_view prefix) { return mem.List(prefix)->size(); }

// Backup kGone and kKept, then kGone's manifest objects removed (as expire does before it
// collects packs): kGone's packs are garbage. Returns how many packs kKept uses.
size_t MakeGarbage(MemStorage& mem, repo::Repository& repo) {
  EXPECT_TRUE(repo::testing::WriteTestBackup(repo, mem, kGone).ok());
  size_t gone_packs = Count(mem, repo::kPacksPrefix);
  EXPECT_TRUE(repo::testing::WriteTestBackup(repo, mem, kKept, 24, 64 << 10, 1000).ok());
  auto objects = mem.List(repo::BackupPrefix(kGone));
  EXPECT_TRUE(objects.ok());
  for (const auto& obj : *objects) EXPECT_TRUE(mem.Delete(obj.key).ok());
  return Count(mem, repo::kPacksPrefix) - gone_packs;
}

GcOptions At(int64_t micros) { return {.grace_seconds = kGrace, .now_unix_micros = micros}; }

TEST(GcTest, MarkNamesRoundTrip) {
  std::string key = repo::GcMarkKey(kT, 0xdeadbeef);
  EXPECT_EQ(key, "gc/mark-1800000000000000-deadbeef");
  EXPECT_EQ(repo::GcMarkTime(key), kT);
  EXPECT_EQ(repo::ClassifyKey(key), repo::ObjectKind::kGc);
  for (const char* bad : {"gc/mark-180000000000000x-deadbeef", "gc/mark-1800000000000000-deadbeeg",
                          "gc/mark-1800000000000000-deadbeef0", "gc/other"})
    EXPECT_EQ(repo::GcMarkTime(bad), std::nullopt) << bad;
}

TEST(GcTest, DeletesOnlyPacksAnEarlierRunMarkedAGracePeriodAgo) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  size_t kept_packs = MakeGarbage(mem, *repo);
  size_t garbage = Count(mem, repo::kPacksPrefix) - kept_packs;
  ASSERT_GT(garbage, 0u);

  auto first = RunGc(*repo, At(kT));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->collected.packs_deleted, 0u);
  EXPECT_EQ(first->packs_marked, garbage);
  EXPECT_TRUE(first->mark_key.starts_with(fmt::format("gc/mark-{:016}-", kT))) << first->mark_key;
  EXPECT_EQ(Count(mem, repo::kGcPrefix), 1u);

  auto early = RunGc(*repo, At(kT + (kGrace - 1) * 1000000));
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->collected.packs_deleted, 0u);

  auto late = RunGc(*repo, At(kT + kGrace * 1000000));
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(late->collected.packs_deleted, garbage);
  EXPECT_EQ(Count(mem, repo::kPacksPrefix), kept_packs);
  EXPECT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
  EXPECT_EQ(Count(mem, repo::kLocksPrefix), 0u);  // the gc lock was released
  EXPECT_NE(GcText(*late).find(fmt::format("deleted {} packs", garbage)), std::string::npos)
      << GcText(*late);
}

TEST(GcTest, DryRunChangesNothing) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  size_t kept_packs = MakeGarbage(mem, *repo);
  ASSERT_TRUE(RunGc(*repo, At(kT)).ok());
  GcOptions dry = At(kT + kGrace * 1000000);
  dry.dry_run = true;
  auto r = RunGc(*repo, dry);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->collected.packs_deleted, 0u);
  EXPECT_GT(Count(mem, repo::kPacksPrefix), kept_packs);
  EXPECT_EQ(Count(mem, repo::kGcPrefix), 1u);
  EXPECT_NE(GcText(*r).find("would delete"), std::string::npos) << GcText(*r);
}

TEST(GcTest, ARunningBackupKeepsEveryPackAndAStaleOneDoesNot) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  size_t kept_packs = MakeGarbage(mem, *repo);
  ASSERT_TRUE(RunGc(*repo, At(kT)).ok());
  size_t before = Count(mem, repo::kPacksPrefix);
  {
    auto running = repo::LockBackup(mem);
    ASSERT_TRUE(running.ok());
    auto r = RunGc(*repo, At(kT + kGrace * 1000000));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->skipped_running, running->backup_id());
    EXPECT_EQ(Count(mem, repo::kPacksPrefix), before);
    EXPECT_NE(
        GcText(*r).find("no pack deleted while backup " + running->backup_id() + " is running"),
        std::string::npos);
  }
  // A lock whose process is gone (same host and boot, dead pid) is taken over.
  repo::LockEnv dead = repo::SystemLockEnv();
  dead.self.pid = 0;  // never alive
  dead.renew_seconds = 0;
  auto stale = repo::LockBackup(mem, dead);
  ASSERT_TRUE(stale.ok());
  Bytes content = *mem.Get(repo::BackupLockKey(stale->backup_id()));
  std::string key = repo::BackupLockKey(stale->backup_id());
  ASSERT_TRUE(stale->Release().ok());
  ASSERT_TRUE(mem.Put(key, content).ok());  // left behind, as by kill -9
  auto r = RunGc(*repo, At(kT + kGrace * 1000000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->skipped_running, "");
  EXPECT_EQ(Count(mem, repo::kPacksPrefix), kept_packs);
  EXPECT_FALSE(mem.Stat(key).ok());
}

// A killed backup leaves parts beside its incomplete marker: gc removes them (and the marker
// last) unless a backup is running; parts without a marker are damage verify reports, not gc's.
TEST(GcTest, RemovesWhatAnInterruptedBackupLeftOnlyWhileNoBackupRuns) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  ASSERT_TRUE(repo::testing::WriteTestBackup(*repo, mem, kKept).ok());
  constexpr char kLost[] = "20261202-010002F";
  ASSERT_TRUE(mem.Put(repo::IncompleteMarkerKey(kGone), AsBytes(std::string(kGone))).ok());
  ASSERT_TRUE(mem.Put(repo::ManifestPartKey(kGone, 0), AsBytes(std::string("part"))).ok());
  ASSERT_TRUE(mem.Put(repo::ManifestPartKey(kLost, 0), AsBytes(std::string("part"))).ok());
  {
    auto running = repo::LockBackup(mem);
    ASSERT_TRUE(running.ok());
    auto r = RunGc(*repo, At(kT));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->interrupted_backups.empty());
    EXPECT_EQ(Count(mem, repo::BackupPrefix(kGone)), 2u);
  }
  auto dry = RunGc(*repo, {.grace_seconds = kGrace, .dry_run = true, .now_unix_micros = kT});
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->interrupted_backups, std::vector<std::string>{kGone});
  EXPECT_EQ(Count(mem, repo::BackupPrefix(kGone)), 2u);
  auto r = RunGc(*repo, At(kT));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->interrupted_backups, std::vector<std::string>{kGone});
  EXPECT_NE(GcText(*r).find(fmt::format("removed what an interrupted backup, expire or repo-sync "
                                        "of '{}' left",
                                        kGone)),
            std::string::npos)
      << GcText(*r);
  EXPECT_EQ(Count(mem, repo::BackupPrefix(kGone)), 0u);
  EXPECT_EQ(Count(mem, repo::BackupPrefix(kLost)), 1u);
  EXPECT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
}

TEST(GcTest, ALiveGcLockRefusesAndAStaleOneIsTakenOver) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  {
    auto held = repo::LockGc(mem);
    ASSERT_TRUE(held.ok());
    auto r = RunGc(*repo, At(kT));
    ASSERT_EQ(r.status().code(), Code::kConflict);
    EXPECT_NE(r.status().message().find(fmt::format("gc or expire is running (pid {} on host",
                                                    repo::SystemLockEnv().self.pid)),
              std::string::npos)
        << r.status().ToString();
  }
  repo::LockEnv dead = repo::SystemLockEnv();
  dead.self.pid = 0;
  dead.renew_seconds = 0;
  auto stale = repo::LockGc(mem, dead);
  ASSERT_TRUE(stale.ok());
  Bytes content = *mem.Get(repo::kGcLockKey);
  ASSERT_TRUE(stale->Release().ok());
  ASSERT_TRUE(mem.Put(repo::kGcLockKey, content).ok());
  auto r = RunGc(*repo, At(kT));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Count(mem, repo::kLocksPrefix), 0u);
}

// A crash after every write of a deleting run: every backup stays readable, and the next run
// (once the dead run's lock is gone) deletes exactly the garbage.
TEST(GcTest, EveryCrashPointLeavesEveryBackupReadable) {
  uint64_t total_writes = 0;
  for (uint64_t crash_at = 0;; ++crash_at) {
    SCOPED_TRACE(fmt::format("crash after {} writes", crash_at));
    MemStorage mem;
    auto repo = repo::testing::OpenMemRepo(mem);
    size_t kept_packs = MakeGarbage(mem, *repo);
    ASSERT_TRUE(RunGc(*repo, At(kT)).ok());
    FaultStorage faulty(mem);
    auto on_faulty = repo::Repository::Open(std::make_unique<BorrowedStorage>(faulty), {});
    ASSERT_TRUE(on_faulty.ok());
    faulty.CrashAfterWrites(crash_at);
    auto r = RunGc(**on_faulty, At(kT + kGrace * 1000000));
    bool crashed = faulty.crashed();
    if (!crashed) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      total_writes = crash_at;
    }
    EXPECT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
    ASSERT_TRUE(mem.Delete(repo::kGcLeaseKey).ok());
    ASSERT_TRUE(mem.Delete(repo::kGcLockKey).ok());  // the dead run's lock, taken over
    auto again = RunGc(*repo, At(kT + 2 * kGrace * 1000000));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(Count(mem, repo::kPacksPrefix), kept_packs);
    EXPECT_TRUE(repo::testing::CheckAllBackups(*repo).ok());
    if (!crashed) break;
  }
  EXPECT_GE(total_writes, 4u);  // lock, deletes, mark, consumed mark, unlock
}

// 12,000 unreferenced packs (empty objects with pack names) and one backup: the time and the
// peak memory of the marking run and of the deleting run, printed.
TEST(GcTest, ManyPacks) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  ASSERT_TRUE(repo::testing::WriteTestBackup(*repo, mem, kKept).ok());
  size_t kept_packs = Count(mem, repo::kPacksPrefix);
  constexpr int kPacks = 12000;
  for (int i = 0; i < kPacks; ++i) {
    repo::PackId id{};
    for (int b = 0; b < 4; ++b) id[b] = static_cast<uint8_t>(i >> (8 * b));
    id[15] = 0xee;
    ASSERT_TRUE(mem.Put(repo::PackKey(id), Bytes(16)).ok());
  }
  for (int run = 0; run < 2; ++run) {
    auto start = std::chrono::steady_clock::now();
    auto r = RunGc(*repo, At(kT + run * kGrace * 1000000));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::cout << fmt::format(
        "gc run {} over {} packs: {:.3f} s, peak RSS of the test process {} MB\n", run + 1,
        r->packs_total, seconds, usage.ru_maxrss / 1024);
    EXPECT_EQ(run == 0 ? r->packs_marked : r->collected.packs_deleted, uint64_t{kPacks});
  }
  EXPECT_EQ(Count(mem, repo::kPacksPrefix), kept_packs);
}

}  // namespace
}  // namespace pgvault::retention

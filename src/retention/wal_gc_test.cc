// WAL collection on the in-memory repository: the cut, kept older backups' own ranges (with their
// .backup files), timelines, history files, streamed parts, locked objects and damaged backups.
#include "retention/wal_gc.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "repo/layout.h"
#include "repo/test_repo.h"
#include "repo/wal_ranges.h"
#include "repo/wal_store.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::retention {
namespace {

using storage::MemStorage;

constexpr uint32_t kSegSize = 1 << 20;

std::string Seg(uint32_t timeline, uint32_t number) {
  return fmt::format("{:08X}{:08X}{:08X}", timeline, 0, number);
}

// A backup's manifest whose header names its WAL range (no data: WAL collection reads only
// headers).
void WriteBackup(repo::Repository& repo, MemStorage& mem, const std::string& id,
                 const std::string& start, const std::string& stop) {
  repo::ManifestWriter manifest(mem, repo.codec(), id, 256);
  repo::FileEntry entry{.type = repo::EntryType::kFile, .path = "PG_VERSION", .mode = 0600};
  entry.checksum = repo::FileChecksum(entry.blocks);
  ASSERT_TRUE(manifest.Add(entry).ok());
  ASSERT_TRUE(manifest
                  .Finish({.backup_id = id,
                           .timeline = pg::TimelineOfWalFile(start),
                           .start_wal = start,
                           .stop_wal = stop,
                           .wal_segment_size = kSegSize,
                           .block_size = 131072})
                  .ok());
}

void PushSegment(repo::Repository& repo, const std::string& name) {
  auto r = repo::PushWal(repo, name, repo::testing::TestWalSegment(name, kSegSize));
  ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
}

void PushSmall(repo::Repository& repo, const std::string& name) {
  auto r = repo::PushWal(repo, name, AsBytes(std::string("history of ") + name));
  ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
}

std::set<std::string> WalNames(MemStorage& mem) {
  std::set<std::string> names;
  auto listed = mem.List(repo::kWalPrefix);
  EXPECT_TRUE(listed.ok());
  if (!listed.ok()) return names;
  for (const auto& obj : *listed) names.insert(repo::WalNameFromKey(obj.key).value_or(obj.key));
  return names;
}

Plan PlanOf(const std::vector<std::pair<std::string, bool>>& entries, const std::string& cut) {
  Plan plan;
  for (const auto& [id, keep] : entries) plan.entries.push_back({.id = id, .keep = keep});
  plan.wal_continuous_from = cut;
  plan.pitr_from_backup = entries.back().first;
  return plan;
}

TEST(WalGcTest, NeededByCutRangesAndTimelines) {
  WalNeeds needs{.cut = Seg(2, 20),
                 .kept = {{"monthly", Seg(1, 3), Seg(1, 4)}, {"open", Seg(1, 8), ""}}};
  // History files always stay, whatever their timeline.
  EXPECT_TRUE(WalNeeded(needs, "00000001.history"));
  EXPECT_TRUE(WalNeeded(needs, "00000002.history"));
  // A kept older backup's own range, its .backup file, and nothing around it.
  EXPECT_FALSE(WalNeeded(needs, Seg(1, 2)));
  EXPECT_TRUE(WalNeeded(needs, Seg(1, 3)));
  EXPECT_TRUE(WalNeeded(needs, Seg(1, 3) + ".00000028.backup"));
  EXPECT_TRUE(WalNeeded(needs, Seg(1, 4)));
  EXPECT_FALSE(WalNeeded(needs, Seg(1, 5)));
  EXPECT_FALSE(WalNeeded(needs, Seg(1, 5) + ".00000028.backup"));
  // A range only holds its own timeline(s): a divergent timeline at the same place goes.
  EXPECT_FALSE(WalNeeded(needs, Seg(3, 3)));
  // A backup whose end is unknown keeps everything after its start.
  EXPECT_TRUE(WalNeeded(needs, Seg(1, 9)));
  EXPECT_TRUE(WalNeeded(needs, Seg(2, 12)));
  EXPECT_FALSE(WalNeeded(needs, Seg(1, 7)));
  // At or after the cut, on any timeline: the PITR window (and a .partial there) stays.
  EXPECT_TRUE(WalNeeded(needs, Seg(2, 20)));
  EXPECT_TRUE(WalNeeded(needs, Seg(1, 20) + ".partial"));
  EXPECT_TRUE(WalNeeded(needs, Seg(3, 40)));
  EXPECT_FALSE(WalNeeded({.cut = Seg(2, 20)}, Seg(2, 19)));
  EXPECT_FALSE(WalNeeded({.cut = Seg(2, 20)}, Seg(1, 19) + ".partial"));
  // Positions compare across the high word: 0000000100000001 00000000 is after ...000000FF.
  EXPECT_TRUE(WalNeeded({.cut = Seg(1, 0xFF)}, "000000010000000100000000"));
  // No cut (no backup to anchor the window): everything stays.
  EXPECT_TRUE(WalNeeded({}, Seg(1, 1)));
}

TEST(WalGcTest, StreamedPartsGoWhenStoredWholeOrBeforeTheCut) {
  WalNeeds needs{.cut = Seg(1, 10)};
  auto obj = [](std::string key) { return storage::ObjectInfo{.key = std::move(key), .size = 7}; };
  std::vector<storage::ObjectInfo> wal = {obj("wal/00000001/" + Seg(1, 10)),
                                          obj("wal/00000001/" + Seg(1, 9))};
  std::vector<storage::ObjectInfo> stream = {
      obj(repo::StreamPartialKey(Seg(1, 5), 4096)),     // before the cut
      obj(repo::StreamPartialKey(Seg(1, 10), 8192)),    // stored whole
      obj(repo::StreamPartialKey(Seg(1, 11), 8192)),    // still being received
      obj(repo::StreamPartialKey(Seg(1, 11), 16384))};  // its newer part
  WalSelection s = SelectWal(needs, wal, stream);
  ASSERT_EQ(s.wal.size(), 1u);
  EXPECT_EQ(s.wal[0].key, "wal/00000001/" + Seg(1, 9));
  std::set<std::string> parts;
  for (const auto& o : s.stream) parts.insert(o.key);
  EXPECT_EQ(parts, (std::set<std::string>{repo::StreamPartialKey(Seg(1, 5), 4096),
                                          repo::StreamPartialKey(Seg(1, 10), 8192)}));
}

// Three backups: an old monthly one (kept), a daily one the plan lets go, and the PITR window's
// oldest; WAL over two timelines. The dry run counts exactly what the run then deletes.
TEST(WalGcTest, DeletesWhatNoKeptBackupNeedsAndTheDryRunSaysSo) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  WriteBackup(*repo, mem, "20261201-010000F", Seg(1, 2), Seg(1, 3));
  WriteBackup(*repo, mem, "20261202-010000F", Seg(1, 6), Seg(1, 6));
  WriteBackup(*repo, mem, "20261203-010000F", Seg(2, 10), Seg(2, 11));
  for (uint32_t n = 1; n <= 8; ++n) PushSegment(*repo, Seg(1, n));
  PushSegment(*repo, Seg(1, 9) + ".partial");  // the old timeline's last segment at promotion
  for (uint32_t n = 9; n <= 12; ++n) PushSegment(*repo, Seg(2, n));
  // Timeline 2 begins at 0/900000: in segment 9 with 1 MiB segments.
  ASSERT_TRUE(repo::PushWal(*repo, "00000002.history",
                            AsBytes(std::string("1\t0/900000\tno recovery target specified\n")))
                  .ok());
  PushSmall(*repo, Seg(1, 2) + ".00000028.backup");
  PushSmall(*repo, Seg(1, 6) + ".00000060.backup");
  ASSERT_TRUE(repo::PushStreamPartial(*repo, Seg(1, 4), AsBytes(std::string(64, 'x'))).ok());
  ASSERT_TRUE(repo::PushStreamPartial(*repo, Seg(2, 13), AsBytes(std::string(64, 'y'))).ok());

  // The plan lets the daily backup go: its range is not kept, even while its manifest is still
  // there (as in a dry run).
  Plan plan =
      PlanOf({{"20261201-010000F", true}, {"20261202-010000F", false}, {"20261203-010000F", true}},
             Seg(2, 10));
  auto dry = CollectWal(*repo, plan, /*dry_run=*/true, 0);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  std::set<std::string> before = WalNames(mem);
  EXPECT_EQ(dry->files_before, before.size());
  auto real = CollectWal(*repo, plan, /*dry_run=*/false, 0);
  ASSERT_TRUE(real.ok()) << real.status().ToString();

  // The monthly backup keeps 2..3 and 4, the segment after its stop.
  std::set<std::string> expected_gone = {Seg(1, 1),
                                         Seg(1, 5),
                                         Seg(1, 6),
                                         Seg(1, 6) + ".00000060.backup",
                                         Seg(1, 7),
                                         Seg(1, 8),
                                         Seg(1, 9) + ".partial",
                                         Seg(2, 9)};
  std::set<std::string> after = WalNames(mem);
  std::set<std::string> gone;
  for (const auto& name : before)
    if (!after.count(name)) gone.insert(name);
  EXPECT_EQ(gone, expected_gone);
  EXPECT_TRUE(after.count("00000002.history"));
  EXPECT_TRUE(after.count(Seg(1, 2) + ".00000028.backup"));
  EXPECT_EQ(real->files_deleted, expected_gone.size());
  EXPECT_EQ(real->first_deleted, Seg(1, 1));
  EXPECT_EQ(real->last_deleted, Seg(2, 9));
  EXPECT_EQ(real->stream_deleted, 1u);  // the part before the cut; the newest one stays
  auto parts_left = mem.List(repo::kStreamPrefix);
  ASSERT_TRUE(parts_left.ok());
  EXPECT_EQ(parts_left->size(), 1u);
  // The dry run said exactly this.
  EXPECT_EQ(dry->files_deleted, real->files_deleted);
  EXPECT_EQ(dry->bytes_deleted, real->bytes_deleted);
  EXPECT_EQ(dry->first_deleted, real->first_deleted);
  EXPECT_EQ(dry->last_deleted, real->last_deleted);
  EXPECT_EQ(dry->stream_deleted, real->stream_deleted);
  EXPECT_GT(real->bytes_deleted, 0u);
  EXPECT_EQ(WalText(*real).substr(0, 25), "WAL: deleted 8 of 16 file");

  // The cut is recorded on the window's oldest backup: the trimmed WAL is no gap for verify.
  uint64_t segment_size = 0;
  auto ranges = repo::DescribeArchive(*repo, segment_size);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  ASSERT_EQ(ranges->size(), 2u);
  for (const auto& r : *ranges) EXPECT_EQ(r.missing, 0u) << "timeline " << r.tli;

  // Nothing more goes on a second run, and the gc lock was released.
  auto again = CollectWal(*repo, plan, false, 0);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->files_deleted, 0u);
}

TEST(WalGcTest, ADamagedBackupStopsWalCollection) {
  MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  WriteBackup(*repo, mem, "20261201-010000F", Seg(1, 2), Seg(1, 3));
  WriteBackup(*repo, mem, "20261203-010000F", Seg(1, 10), Seg(1, 11));
  for (uint32_t n = 1; n <= 11; ++n) PushSegment(*repo, Seg(1, n));
  Bytes* manifest = mem.Mutable(repo::ManifestKey("20261201-010000F"));
  ASSERT_NE(manifest, nullptr);
  (*manifest)[manifest->size() / 2] ^= 1;
  Plan plan = PlanOf({{"20261201-010000F", true}, {"20261203-010000F", true}}, Seg(1, 10));
  auto r = CollectWal(*repo, plan, false, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->skipped_damaged, "20261201-010000F");
  EXPECT_EQ(r->files_deleted, 0u);
  EXPECT_EQ(WalNames(mem).size(), 11u);
}

using repo::testing::LockingStorage;

TEST(WalGcTest, LockedWalIsKeptAndReported) {
  MemStorage mem;
  {
    auto repo = repo::testing::OpenMemRepo(mem);
    WriteBackup(*repo, mem, "20261203-010000F", Seg(1, 10), Seg(1, 11));
    for (uint32_t n = 1; n <= 11; ++n) PushSegment(*repo, Seg(1, n));
  }
  std::string locked = *repo::WalKey(Seg(1, 4));
  LockingStorage lockable(mem, {locked});
  auto repo = repo::testing::OpenOn(lockable, {.passphrase = "unit test passphrase"});
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  Plan plan = PlanOf({{"20261203-010000F", true}}, Seg(1, 10));
  int64_t now = LockingStorage::kUntil - 100;
  auto dry = CollectWal(**repo, plan, true, now);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  auto real = CollectWal(**repo, plan, false, now);
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_EQ(real->locked, 1u);
  EXPECT_EQ(real->files_deleted, 8u);
  EXPECT_EQ(dry->locked, 1u);
  EXPECT_EQ(dry->files_deleted, 8u);
  EXPECT_EQ(WalNames(mem), (std::set<std::string>{Seg(1, 4), Seg(1, 10), Seg(1, 11)}));
  EXPECT_NE(WalText(*real).find("kept 1 unneeded files because they are locked"), std::string::npos)
      << WalText(*real);
}

}  // namespace
}  // namespace pgvault::retention

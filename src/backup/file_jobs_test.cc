// Large files backed up as several range jobs: the joined manifest entry must be what one
// whole-file job makes, full and incremental, and restore the file byte for byte.
#include "backup/file_jobs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "backup/copy_files.h"
#include "repo/block_reader.h"
#include "repo/layout.h"
#include "repo/repository.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::backup {
namespace {

constexpr uint32_t kBlock = 4096;

Bytes RandomBlock(uint32_t seed, size_t size = kBlock) {
  std::mt19937 gen(seed);
  Bytes b(size);
  for (auto& byte : b) byte = static_cast<uint8_t>(gen());
  return b;
}

class FileJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgvault-file-jobs-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    // Small packs, so a backup spreads over several packs and flushes mid-file.
    repo::RepoParams params{.block_size = kBlock, .pack_size = 64 << 10};
    ASSERT_TRUE(
        repo::Repository::Create(mem_, params, {.passphrase = "unit test passphrase"}).ok());
    auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(mem_),
                                       {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(repo.ok());
    repo_ = std::move(repo).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes the file the test backs up and returns its walk entry (size as written, unless
  // walk_size says what an earlier walk saw).
  WalkEntry WriteFile(const std::vector<Bytes>& blocks, std::optional<uint64_t> walk_size = {}) {
    std::string path = dir_ + "/16384";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t size = 0;
    for (const auto& b : blocks) {
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
      size += b.size();
    }
    out.close();
    return WalkEntry{.type = repo::EntryType::kFile,
                     .path = "base/5/16384",
                     .source_path = path,
                     .mode = 0600,
                     .size = walk_size.value_or(size)};
  }

  // The copy phase of RunBackup, for one walk, on `workers` threads.
  std::vector<repo::FileEntry> Backup(const std::vector<WalkEntry>& walk, const std::string& id,
                                      const std::string& parent_id, uint64_t range_blocks,
                                      CopyTotals& totals, int workers = 3,
                                      int64_t unchanged_before = 0) {
    std::unique_ptr<repo::ManifestReader> parent;
    if (!parent_id.empty()) {
      auto r = repo_->OpenManifest(parent_id);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      parent = std::move(r).value();
    }
    repo::ManifestWriter manifest(repo_->storage(), repo_->codec(), id);
    Status copied = CopyFiles(
        *repo_, walk, parent.get(), manifest,
        {.jobs = workers, .range_blocks = range_blocks, .unchanged_before = unchanged_before},
        totals);
    EXPECT_TRUE(copied.ok()) << copied.ToString();
    EXPECT_TRUE(
        manifest.Finish(repo::ManifestHeader{.wal_segment_size = 16 << 20, .block_size = 131072})
            .ok());
    return Read(id);
  }

  std::vector<repo::FileEntry> Read(const std::string& id) {
    auto reader = repo::ManifestReader::Open(repo_->storage(), repo_->codec(), id);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<repo::FileEntry> entries;
    repo::FileEntry e;
    while ((*reader)->Next(e)) entries.push_back(e);
    EXPECT_TRUE((*reader)->status().ok());
    return entries;
  }

  // The file as restore would write it, after the checks restore makes on an entry.
  Bytes Restore(const repo::FileEntry& e) {
    EXPECT_EQ(repo::FileChecksum(e.blocks), e.checksum);
    EXPECT_EQ(e.blocks.size(), (e.size + kBlock - 1) / kBlock);
    Bytes out(e.size);
    repo::BlockReader reader(repo_->storage(), repo_->codec(), repo_->id_key());
    Status s = reader.Read(e.blocks, 0, e.blocks.size(), [&](size_t idx, Bytes& plain) {
      EXPECT_EQ(plain.size(), std::min<uint64_t>(kBlock, e.size - idx * kBlock));
      std::copy(plain.begin(), plain.end(), out.begin() + static_cast<ptrdiff_t>(idx * kBlock));
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::string dir_;
  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
};

Bytes Concat(const std::vector<Bytes>& blocks) {
  Bytes all;
  for (const auto& b : blocks) Append(all, b);
  return all;
}

// Two entries for the same file content are the same but for where this backup put the blocks
// it stored: pack names are random, so those locations differ from run to run. Everything a
// block takes from the parent (reused blocks, delta bases) must be equal.
void ExpectSameEntry(const repo::FileEntry& whole, const repo::FileEntry& ranged,
                     const std::set<repo::PackId>& parent_packs) {
  EXPECT_EQ(whole.type, ranged.type);
  EXPECT_EQ(whole.path, ranged.path);
  EXPECT_EQ(whole.mode, ranged.mode);
  EXPECT_EQ(whole.size, ranged.size);
  EXPECT_EQ(whole.mtime, ranged.mtime);
  EXPECT_EQ(whole.checksum, ranged.checksum);
  ASSERT_EQ(whole.blocks.size(), ranged.blocks.size());
  for (size_t block_idx = 0; block_idx < whole.blocks.size(); ++block_idx) {
    const repo::BlockRef &w = whole.blocks[block_idx], &r = ranged.blocks[block_idx];
    SCOPED_TRACE("block " + std::to_string(block_idx));
    EXPECT_EQ(w.zero, r.zero);
    EXPECT_EQ(w.id, r.id);
    EXPECT_EQ(w.delta, r.delta);
    EXPECT_EQ(w.base_id, r.base_id);
    EXPECT_EQ(w.base_loc.pack, r.base_loc.pack);
    EXPECT_EQ(w.base_loc.offset, r.base_loc.offset);
    EXPECT_EQ(parent_packs.contains(w.loc.pack), parent_packs.contains(r.loc.pack));
    if (parent_packs.contains(w.loc.pack)) {
      EXPECT_EQ(w.loc.pack, r.loc.pack);
      EXPECT_EQ(w.loc.offset, r.loc.offset);
    }
  }
}

std::set<repo::PackId> PacksOf(const repo::FileEntry& e) {
  std::set<repo::PackId> packs;
  for (const auto& b : e.blocks)
    if (!b.zero) packs.insert(b.loc.pack);
  return packs;
}

TEST_F(FileJobsTest, RangesJoinToTheWholeFileEntryFullAndIncremental) {
  // 11 full blocks and a 1000-byte tail: 4 ranges of 3 blocks, the last one short. Block 2 is
  // zero, 5 repeats 4 (same range) and 9 repeats 1 (another range).
  std::vector<Bytes> v1;
  for (uint32_t block_idx = 0; block_idx < 11; ++block_idx) v1.push_back(RandomBlock(block_idx));
  v1[2] = Bytes(kBlock, 0);
  v1[5] = v1[4];
  v1[9] = v1[1];
  v1.push_back(RandomBlock(100, 1000));
  std::vector<WalkEntry> walk = {WriteFile(v1)};

  CopyTotals whole_totals, ranged_totals;
  auto whole = Backup(walk, "20250101-000001F", "", 1 << 20, whole_totals);
  auto ranged = Backup(walk, "20250101-000002F", "", 3, ranged_totals);
  ASSERT_EQ(whole.size(), 1u);
  ASSERT_EQ(ranged.size(), 1u);
  ExpectSameEntry(whole[0], ranged[0], {});
  EXPECT_EQ(Restore(ranged[0]), Concat(v1));
  EXPECT_EQ(Restore(whole[0]), Concat(v1));
  EXPECT_EQ(ranged[0].size, 11u * kBlock + 1000);
  // The whole-file job stores block 9 as block 1; the range job of blocks 9.. cannot see block
  // 1 and stores it again: the one difference, for a twin in another range of the same file.
  EXPECT_EQ(whole[0].blocks[9].loc.pack, whole[0].blocks[1].loc.pack);
  EXPECT_EQ(whole[0].blocks[9].loc.offset, whole[0].blocks[1].loc.offset);
  EXPECT_EQ(whole_totals.counters.new_blocks, 9u);
  EXPECT_EQ(ranged_totals.counters.new_blocks, 10u);
  EXPECT_EQ(ranged_totals.counters.blocks, 12u);
  EXPECT_EQ(ranged_totals.counters.zero_blocks, 1u);

  // The next version, with changes in every range: block 0 and 4 change a little (deltas), 7
  // is new (stored in full), 2 now holds what 6 held (reused from the parent, from another
  // range), 10 became zero, the tail grew into a full block and the file grew by two blocks
  // and a 500-byte tail.
  std::vector<Bytes> v2 = v1;
  v2[0][17] ^= 0x5a;
  v2[4][4000] ^= 0x01;
  v2[7] = RandomBlock(200);
  v2[2] = v1[6];
  v2[10] = Bytes(kBlock, 0);
  v2[11].resize(kBlock, 0x33);
  v2.push_back(RandomBlock(201));
  v2.push_back(RandomBlock(202));
  v2.push_back(RandomBlock(203, 500));
  walk = {WriteFile(v2)};
  std::set<repo::PackId> parent_packs = PacksOf(whole[0]);

  CopyTotals whole_incr_totals, ranged_incr_totals;
  auto whole_incr =
      Backup(walk, "20250101-000003F", "20250101-000001F", 1 << 20, whole_incr_totals);
  auto ranged_incr = Backup(walk, "20250101-000004F", "20250101-000001F", 3, ranged_incr_totals);
  ASSERT_EQ(whole_incr.size(), 1u);
  ASSERT_EQ(ranged_incr.size(), 1u);
  ExpectSameEntry(whole_incr[0], ranged_incr[0], parent_packs);
  EXPECT_EQ(Restore(ranged_incr[0]), Concat(v2));
  EXPECT_EQ(Restore(whole_incr[0]), Concat(v2));
  const auto& blocks = ranged_incr[0].blocks;
  EXPECT_TRUE(blocks[0].delta);
  EXPECT_TRUE(blocks[4].delta);
  EXPECT_FALSE(blocks[7].delta);
  EXPECT_FALSE(parent_packs.contains(blocks[7].loc.pack));
  EXPECT_EQ(blocks[2].loc.pack, whole[0].blocks[6].loc.pack);
  EXPECT_EQ(blocks[2].loc.offset, whole[0].blocks[6].loc.offset);
  EXPECT_EQ(blocks[5].loc.offset, whole[0].blocks[5].loc.offset);
  EXPECT_TRUE(blocks[10].zero);
  EXPECT_EQ(ranged_incr_totals.counters.delta_blocks, whole_incr_totals.counters.delta_blocks);
  EXPECT_GE(ranged_incr_totals.counters.delta_blocks, 2u);

  // And the chain as RunBackup makes it: the ranged backup as the parent of a ranged one.
  CopyTotals chain_totals;
  auto chain = Backup(walk, "20250101-000005F", "20250101-000002F", 3, chain_totals);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(Restore(chain[0]), Concat(v2));
  EXPECT_GE(chain_totals.counters.delta_blocks, 2u);
}

// The parent expired while this backup merges its entries (expire deletes the manifest, then the
// parts): the files after that point have no parent, and the backup goes on.
TEST_F(FileJobsTest, AParentExpiredWhileReadLeavesTheRestWithoutParent) {
  const std::string parent_id = "20250101-000001F";
  repo::ManifestWriter writer(repo_->storage(), repo_->codec(), parent_id, 1024);
  std::vector<WalkEntry> walk;
  for (int file_idx = 0; file_idx < 100; ++file_idx) {
    std::string path = fmt::format("base/5/{:05}", file_idx);
    ASSERT_TRUE(writer.Add({.type = repo::EntryType::kFile, .path = path, .mode = 0600}).ok());
    walk.push_back({.type = repo::EntryType::kFile, .path = path, .mode = 0600});
  }
  ASSERT_TRUE(writer.Finish({.wal_segment_size = 16 << 20, .block_size = 131072}).ok());
  auto parent = repo_->OpenManifest(parent_id);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  JobSource source(walk, parent->get(), kBlock, 4);
  size_t seq = 0, jobs = 0, with_parent = 0;
  FileJob job;
  Status status;
  while (source.Next(seq, job, status)) {
    if (jobs++ == 0) {
      ASSERT_TRUE(repo_->storage().Delete(repo::ManifestKey(parent_id)).ok());
      for (uint32_t part = 0; part < 100; ++part)
        ASSERT_TRUE(repo_->storage().Delete(repo::ManifestPartKey(parent_id, part)).ok());
    }
    with_parent += job.parent != nullptr;
  }
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(jobs, 100u);
  EXPECT_GE(with_parent, 1u);
  EXPECT_LT(with_parent, 100u);
}

TEST_F(FileJobsTest, AFileThatGrewAfterTheWalkIsReadToItsEnd) {
  std::vector<Bytes> blocks;
  for (uint32_t block_idx = 0; block_idx < 14; ++block_idx)
    blocks.push_back(RandomBlock(block_idx));
  blocks.push_back(RandomBlock(99, 123));
  // The walk saw 7 blocks: ranges 0-2, 3-5 and 6 to the end, which reads the other 8 too.
  std::vector<WalkEntry> walk = {WriteFile(blocks, 7 * kBlock)};
  CopyTotals totals;
  auto ranged = Backup(walk, "20250101-000001F", "", 3, totals);
  ASSERT_EQ(ranged.size(), 1u);
  EXPECT_EQ(ranged[0].size, 14u * kBlock + 123);
  EXPECT_EQ(Restore(ranged[0]), Concat(blocks));
}

TEST_F(FileJobsTest, AFileThatShrankAfterTheWalkEndsAtTheFirstShortRange) {
  for (uint64_t tail : {uint64_t{100}, uint64_t{0}}) {
    SCOPED_TRACE("tail " + std::to_string(tail));
    // The walk saw 15 blocks (5 ranges); the file now has 4 (or 6) blocks and a tail, so the
    // second (third) range reads short and the rest read nothing.
    std::vector<Bytes> blocks;
    size_t full = tail ? 4 : 6;
    for (uint32_t block_idx = 0; block_idx < full; ++block_idx)
      blocks.push_back(RandomBlock(block_idx));
    if (tail) blocks.push_back(RandomBlock(77, tail));
    std::vector<WalkEntry> walk = {WriteFile(blocks, 15 * kBlock)};
    CopyTotals totals;
    auto ranged = Backup(walk, tail ? "20250101-000001F" : "20250101-000002F", "", 3, totals);
    ASSERT_EQ(ranged.size(), 1u);
    EXPECT_EQ(ranged[0].size, full * kBlock + tail);
    EXPECT_EQ(Restore(ranged[0]), Concat(blocks));
  }
}

TEST_F(FileJobsTest, AVanishedFileHasNoEntryAndCountsOnce) {
  WalkEntry dir{.type = repo::EntryType::kDir, .path = "base", .mode = 0700};
  WalkEntry gone{.type = repo::EntryType::kFile,
                 .path = "base/5/1",
                 .source_path = dir_ + "/missing",
                 .size = 10 * kBlock};
  CopyTotals totals;
  auto entries = Backup({dir, gone}, "20250101-000001F", "", 3, totals);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, "base");
  EXPECT_EQ(totals.counters.files_vanished, 1u);
}

// A file whose size and mtime are what the parent recorded, with that mtime before the cut, is
// taken from the parent unread: rewriting its content behind the walk's back (same size, same
// mtime) is then not seen, which is what --full-scan (cut 0) is for. At or after the cut, or
// with another size or mtime, the file is read.
TEST_F(FileJobsTest, AnUnchangedFileIsTakenFromTheParentUnreadAndFullScanReadsIt) {
  constexpr int64_t kMtime = 1'700'000'000;
  std::vector<Bytes> v1 = {RandomBlock(1), RandomBlock(2), RandomBlock(3), RandomBlock(4, 99)};
  // The entry records the mtime of the file as opened; the walk's is what the next backup sees.
  auto set_mtime = [&](int64_t mtime) {
    timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/16384").c_str(), times, 0), 0);
  };
  WalkEntry walk = WriteFile(v1);
  walk.mtime = kMtime;
  set_mtime(kMtime);
  CopyTotals first;
  auto parent = Backup({walk}, "20250101-000001F", "", 2, first);
  ASSERT_EQ(parent.size(), 1u);

  std::vector<Bytes> v2 = {RandomBlock(1), RandomBlock(5), RandomBlock(3), RandomBlock(6, 99)};
  WriteFile(v2);  // same size, and the old mtime put back
  set_mtime(kMtime);
  CopyTotals skipped;
  auto unread = Backup({walk}, "20250101-000002F", "20250101-000001F", 2, skipped, 3, kMtime + 1);
  ASSERT_EQ(unread.size(), 1u);
  EXPECT_EQ(skipped.counters.files_unchanged, 1u);
  EXPECT_EQ(skipped.counters.bytes_unchanged, 3u * kBlock + 99);
  EXPECT_EQ(skipped.counters.bytes_read, 0u);
  EXPECT_EQ(skipped.counters.reused_blocks, 4u);
  EXPECT_EQ(unread[0].checksum, parent[0].checksum);
  EXPECT_EQ(Restore(unread[0]), Concat(v1));

  struct Case {
    const char* what;
    int64_t cut;
    int64_t mtime;
    uint64_t size_delta;
  };
  for (const Case& c :
       {Case{"full scan", 0, kMtime, 0}, Case{"mtime at the cut", kMtime, kMtime, 0},
        Case{"mtime changed", kMtime + 10, kMtime + 1, 0},
        Case{"size changed", kMtime + 1, kMtime, 1}}) {
    SCOPED_TRACE(c.what);
    WalkEntry now = walk;
    now.mtime = c.mtime;
    now.size += c.size_delta;  // the walk saw another size; the read finds the real one
    CopyTotals read;
    static int backup_no = 3;
    auto entries = Backup({now}, fmt::format("20250101-00000{}F", backup_no++), "20250101-000001F",
                          2, read, 3, c.cut);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(read.counters.files_unchanged, 0u);
    EXPECT_EQ(read.counters.bytes_read, 3u * kBlock + 99);
    EXPECT_EQ(Restore(entries[0]), Concat(v2));
  }
}

// The copy phase stops at the first file it cannot read and names it; the manifest is not
// finished.
TEST_F(FileJobsTest, AnUnreadableFileStopsTheCopyAndIsNamed) {
  WalkEntry dir{.type = repo::EntryType::kDir, .path = "base", .mode = 0700};
  // A directory where a file was walked: open succeeds, read fails with EISDIR.
  WalkEntry unreadable{.type = repo::EntryType::kFile,
                       .path = "base/5/2",
                       .source_path = dir_,
                       .mode = 0600,
                       .size = 10 * kBlock};
  repo::ManifestWriter manifest(repo_->storage(), repo_->codec(), "20250101-000001F");
  CopyTotals totals;
  Status copied = CopyFiles(*repo_, {dir, unreadable}, nullptr, manifest,
                            {.jobs = 2, .range_blocks = 3}, totals);
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(copied.code(), Code::kIo) << copied.ToString();
  EXPECT_NE(copied.message().find("backing up 'base/5/2'"), std::string::npos) << copied.ToString();
}

// The join itself, with parts made by hand and handed in out of order.
class OrderedSinkTest : public FileJobsTest {
 protected:
  repo::FileEntry Part(size_t nblocks, uint64_t size, uint8_t seed) {
    repo::FileEntry e{.path = file_.path, .mode = 0600, .size = size, .mtime = 7};
    for (size_t block_idx = 0; block_idx < nblocks; ++block_idx) {
      repo::BlockRef b;
      b.id[0] = seed;
      b.id[1] = static_cast<uint8_t>(block_idx);
      e.blocks.push_back(b);
    }
    return e;
  }
  FileJob Job(uint32_t part, bool last) {
    return FileJob{.entry = &file_,
                   .first_block = part * 3u,
                   .block_count = last ? 0u : 3u,
                   .part = part,
                   .last_part = last};
  }
  WalkEntry file_{.type = repo::EntryType::kFile, .path = "base/5/16384"};
};

TEST_F(OrderedSinkTest, PartsAfterAShortOneOrAVanishedOneAreDropped) {
  repo::ManifestWriter manifest(repo_->storage(), repo_->codec(), "20250101-000001F");
  OrderedSink sink(manifest, kBlock, 16, 1000);
  // File 1 (jobs 0-3): part 1 read short, part 2 found the file grown back; both later parts
  // are dropped. File 2 (jobs 4-6): vanished when its part 1 opened it.
  ASSERT_TRUE(sink.Put(3, Job(3, true), Part(2, kBlock + 9, 4)).ok());
  ASSERT_TRUE(sink.Put(2, Job(2, false), Part(3, 3 * kBlock, 3)).ok());
  ASSERT_TRUE(sink.Put(1, Job(1, false), Part(2, kBlock + 5, 2)).ok());
  ASSERT_TRUE(sink.Put(6, Job(2, true), Part(1, 10, 7)).ok());
  ASSERT_TRUE(sink.Put(5, Job(1, false), std::nullopt).ok());
  ASSERT_TRUE(sink.Put(0, Job(0, false), Part(3, 3 * kBlock, 1)).ok());
  ASSERT_TRUE(sink.Put(4, Job(0, false), Part(3, 3 * kBlock, 5)).ok());
  ASSERT_TRUE(
      manifest.Finish(repo::ManifestHeader{.wal_segment_size = 16 << 20, .block_size = 131072})
          .ok());
  auto entries = Read("20250101-000001F");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].size, 4u * kBlock + 5);
  ASSERT_EQ(entries[0].blocks.size(), 5u);
  EXPECT_EQ(entries[0].blocks[2].id[0], 1);
  EXPECT_EQ(entries[0].blocks[3].id[0], 2);
  EXPECT_EQ(entries[0].blocks[4].id[1], 1);
  EXPECT_EQ(entries[0].checksum, repo::FileChecksum(entries[0].blocks));
  EXPECT_EQ(entries[1].size, 3u * kBlock);
  EXPECT_EQ(entries[1].blocks.size(), 3u);
  EXPECT_EQ(entries[1].blocks[0].id[0], 5);
  EXPECT_EQ(entries[1].checksum, repo::FileChecksum(entries[1].blocks));

  // A file whose first part vanished has no entry, whatever its later parts read.
  repo::ManifestWriter manifest2(repo_->storage(), repo_->codec(), "20250101-000002F");
  OrderedSink sink2(manifest2, kBlock, 16, 1000);
  ASSERT_TRUE(sink2.Put(0, Job(0, false), std::nullopt).ok());
  ASSERT_TRUE(sink2.Put(1, Job(1, true), Part(3, 3 * kBlock, 1)).ok());
  ASSERT_TRUE(
      manifest2.Finish(repo::ManifestHeader{.wal_segment_size = 16 << 20, .block_size = 131072})
          .ok());
  EXPECT_TRUE(Read("20250101-000002F").empty());
}

TEST_F(OrderedSinkTest, ResultsTooFarAheadWaitForTheOldest) {
  repo::ManifestWriter manifest(repo_->storage(), repo_->codec(), "20250101-000001F");
  // Up to 4 jobs ahead, and results holding more than 5 block references make later ones wait.
  OrderedSink sink(manifest, kBlock, 4, 5);
  auto put = [&](size_t seq, size_t nblocks) {
    return std::async(std::launch::async, [&sink, this, seq, nblocks] {
      return sink.Put(seq, Job(static_cast<uint32_t>(seq), seq == 7),
                      Part(nblocks, nblocks * kBlock, static_cast<uint8_t>(seq)));
    });
  };
  auto waits = [](std::future<Status>& f) {
    return f.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout;
  };
  auto far = put(4, 3);  // job 0 is the oldest: 4 is too far ahead
  EXPECT_TRUE(waits(far));
  EXPECT_TRUE(put(1, 3).get().ok());
  EXPECT_TRUE(put(2, 3).get().ok());  // 3 references were waiting: still under 5
  auto over = put(3, 3);              // 6 references are waiting now
  EXPECT_TRUE(waits(over));
  EXPECT_TRUE(put(0, 3).get().ok());  // the oldest always goes in, and drains 0-2
  EXPECT_TRUE(over.get().ok());
  EXPECT_TRUE(far.get().ok());
  for (size_t seq : {5, 6, 7}) EXPECT_TRUE(put(seq, 3).get().ok());
  ASSERT_TRUE(
      manifest.Finish(repo::ManifestHeader{.wal_segment_size = 16 << 20, .block_size = 131072})
          .ok());
  auto entries = Read("20250101-000001F");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].blocks.size(), 24u);
}

}  // namespace
}  // namespace pgvault::backup

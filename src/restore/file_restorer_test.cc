// FileRestorer on an in-memory repository with small blocks and ranges, so that one file spans
// many ranges restored by several workers at once.
#include "restore/file_restorer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "repo/pack.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::restore {
namespace {

constexpr uint32_t kBlock = 4096;

class FileRestorerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    repo::RepoParams params;
    params.encrypted = GetParam();
    params.pack_size = 64 << 10;  // several packs per file
    repo::Secret secret{.passphrase = "unit test passphrase"};
    ASSERT_TRUE(repo::Repository::Create(mem_, params, secret).ok());
    auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(mem_), secret);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo).value();
    char tmpl[] = "/tmp/pgvault-file-restorer-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Stores content as a backup would (zero blocks as holes, repeated blocks once) and returns
  // its manifest entry.
  repo::FileEntry Store(const std::string& path, const Bytes& content) {
    pipeline::Hmac hmac(repo_->id_key());
    repo::PackWriter packs(repo_->storage(), repo_->codec(), 64 << 10, nullptr);
    repo::FileEntry e{.path = path, .mode = 0600, .size = content.size(), .mtime = 1700000000};
    std::map<pipeline::Digest, repo::BlockRef> stored;
    for (size_t offset = 0; offset < content.size(); offset += kBlock) {
      ByteView block(content.data() + offset, std::min<size_t>(kBlock, content.size() - offset));
      repo::BlockRef ref;
      if (std::all_of(block.begin(), block.end(), [](uint8_t b) { return b == 0; })) {
        ref.zero = true;
      } else {
        ref.id = hmac.Compute(block);
        if (auto it = stored.find(ref.id); it != stored.end()) {
          ref = it->second;
        } else {
          ref.loc = *packs.Add(ref.id, block);
          stored[ref.id] = ref;
        }
      }
      e.blocks.push_back(ref);
    }
    EXPECT_TRUE(packs.Flush().ok());
    e.checksum = repo::FileChecksum(e.blocks);
    return e;
  }

  FileRestorerOptions Options() {
    return {.block_size = kBlock, .jobs = 3, .range_bytes = 4 * kBlock, .backup_id = "B"};
  }

  std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
  std::string dir_;
  NoProgress progress_;
};

// 37 full blocks and a partial one; ranges of 4 blocks, so 10 ranges, the last one partial.
// Block 5 is zero, blocks 20-23 (a whole range) are zero, block 30 repeats block 1, and the file
// ends in zero blocks: the tail must come back as zeros of the right length.
Bytes BigFile() {
  Bytes b(37 * kBlock + 1234);
  uint32_t x = 12345;
  for (size_t byte_idx = 0; byte_idx < 34 * kBlock; ++byte_idx) {
    x = x * 1103515245 + 12345;
    b[byte_idx] = static_cast<uint8_t>(x >> 16);
  }
  auto zero = [&](size_t first, size_t count) {
    std::fill(b.begin() + first * kBlock, b.begin() + (first + count) * kBlock, 0);
  };
  zero(5, 1);
  zero(20, 4);
  std::copy(b.begin() + kBlock, b.begin() + 2 * kBlock, b.begin() + 30 * kBlock);
  return b;
}

TEST_P(FileRestorerTest, MultiRangeFileComesBackByteForByte) {
  Bytes big = BigFile();
  Bytes small(100, 7);
  repo::FileEntry big_entry = Store("big", big);
  repo::FileEntry small_entry = Store("small", small);
  repo::FileEntry empty_entry = Store("empty", {});
  ASSERT_EQ(big_entry.blocks.size(), 38u);

  FileRestorer restorer(*repo_, Options(), progress_);
  ASSERT_TRUE(restorer.Add(small_entry, dir_ + "/small"));
  ASSERT_TRUE(restorer.Add(big_entry, dir_ + "/big"));
  ASSERT_TRUE(restorer.Add(empty_entry, dir_ + "/empty"));
  Status s = restorer.Finish();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(restorer.files(), 3u);
  EXPECT_EQ(Slurp(dir_ + "/big"), AsString(big));
  EXPECT_EQ(Slurp(dir_ + "/small"), AsString(small));
  EXPECT_EQ(Slurp(dir_ + "/empty"), "");
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  EXPECT_EQ(static_cast<size_t>(st.st_size), big.size());
}

TEST_P(FileRestorerTest, DamagedBlockInALaterRangeFailsWithOneLine) {
  Bytes big = BigFile();
  repo::FileEntry e = Store("base/5/16384", big);
  // Flip a byte inside block 33 (range 8), not the first range.
  const repo::BlockRef& ref = e.blocks[33];
  Bytes* pack = mem_.Mutable(repo::PackKey(ref.loc.pack));
  ASSERT_NE(pack, nullptr);
  (*pack)[ref.loc.offset + ref.loc.size / 2] ^= 0x40;

  FileRestorer restorer(*repo_, Options(), progress_);
  restorer.Add(e, dir_ + "/16384");
  Status s = restorer.Finish();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_TRUE(s.message().starts_with("restoring 'base/5/16384' of backup 'B': block at offset "))
      << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
}

// What lets restore skip the id check in an encrypted repository: a blob is bound to its id by
// the aad, so pointing a block at another block's blob fails to open.
TEST_P(FileRestorerTest, BlobOfAnotherBlockFailsToOpen) {
  repo::FileEntry e = Store("f", BigFile());
  e.blocks[3].loc = e.blocks[4].loc;
  e.checksum = repo::FileChecksum(e.blocks);
  FileRestorer restorer(*repo_, Options(), progress_);
  restorer.Add(e, dir_ + "/f");
  Status s = restorer.Finish();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(GetParam() ? "authentication tag mismatch" : "crc32 mismatch"),
            std::string::npos)
      << s.message();
}

TEST_P(FileRestorerTest, RefusesToOverwriteAnExistingFile) {
  repo::FileEntry e = Store("f", Bytes(10, 1));
  { std::ofstream(dir_ + "/f") << "precious"; }
  FileRestorer restorer(*repo_, Options(), progress_);
  (void)restorer.Add(e, dir_ + "/f");  // a small file is created by the worker: Finish tells
  Status s = restorer.Finish();
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_TRUE(s.message().starts_with("restoring 'f' of backup 'B': cannot create")) << s.message();
  EXPECT_EQ(Slurp(dir_ + "/f"), "precious");
}

TEST_P(FileRestorerTest, ManifestEntryWithTheWrongBlockCountIsRefused) {
  repo::FileEntry e = Store("f", BigFile());
  e.blocks.pop_back();
  e.checksum = repo::FileChecksum(e.blocks);
  FileRestorer restorer(*repo_, Options(), progress_);
  EXPECT_FALSE(restorer.Add(e, dir_ + "/f"));
  EXPECT_EQ(restorer.Finish().code(), Code::kCorruption);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/f"));
}

// Small files travel in batches (kBatchFiles per job); 600 of them make three batches.
TEST_P(FileRestorerTest, ManySmallFilesInBatchesComeBackByteForByte) {
  std::vector<repo::FileEntry> entries;
  for (int file_idx = 0; file_idx < 600; ++file_idx)
    entries.push_back(
        Store(fmt::format("f{}", file_idx),
              Bytes(static_cast<size_t>(file_idx % 7) * 1000 + 1, static_cast<uint8_t>(file_idx))));
  FileRestorer restorer(*repo_, Options(), progress_);
  for (auto& e : entries) ASSERT_TRUE(restorer.Add(e, dir_ + "/" + e.path));
  Status s = restorer.Finish();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(restorer.files(), 600u);
  for (int file_idx = 0; file_idx < 600; ++file_idx)
    ASSERT_EQ(Slurp(dir_ + fmt::format("/f{}", file_idx)),
              AsString(Bytes(static_cast<size_t>(file_idx % 7) * 1000 + 1,
                             static_cast<uint8_t>(file_idx))));
}

// Queued batches hold no open files: 3,000 small files restore under a limit of 256 descriptors
// (jobs x kBatchFiles may be open at once, not the whole queue's worth).
TEST_P(FileRestorerTest, ManySmallFilesNeedFewDescriptors) {
  std::vector<repo::FileEntry> entries;
  for (int file_idx = 0; file_idx < 3000; ++file_idx)
    entries.push_back(
        Store(fmt::format("s{}", file_idx), Bytes(100, static_cast<uint8_t>(file_idx))));
  rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  rlimit low = old_limit;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Status s;
  {
    FileRestorer restorer(*repo_, Options(), progress_);
    for (auto& e : entries)
      if (!restorer.Add(e, dir_ + "/" + e.path)) break;
    s = restorer.Finish();
  }
  ::setrlimit(RLIMIT_NOFILE, &old_limit);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Slurp(dir_ + "/s2999"), AsString(Bytes(100, static_cast<uint8_t>(2999))));
}

// A damaged block inside a batch names its own file, not the batch.
TEST_P(FileRestorerTest, DamagedSmallFileInABatchIsNamed) {
  std::vector<repo::FileEntry> entries;
  for (int file_idx = 0; file_idx < 10; ++file_idx)
    entries.push_back(Store(fmt::format("base/5/{}", 100 + file_idx),
                            Bytes(3000, static_cast<uint8_t>(file_idx))));
  const repo::BlockRef& ref = entries[6].blocks[0];
  Bytes* pack = mem_.Mutable(repo::PackKey(ref.loc.pack));
  ASSERT_NE(pack, nullptr);
  (*pack)[ref.loc.offset + ref.loc.size / 2] ^= 0x40;
  FileRestorer restorer(*repo_, Options(), progress_);
  for (auto& e : entries) restorer.Add(e, dir_ + "/" + e.path.substr(7));
  Status s = restorer.Finish();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_TRUE(s.message().starts_with("restoring 'base/5/106' of backup 'B': block at offset "))
      << s.message();
}

// Delta mode: existing files are compared block by block through their keyed ids; only the
// blocks that differ are written (a zero block that is not zero as zeros), sizes are fixed by
// truncating or extending, and an equal file is only read.
TEST_P(FileRestorerTest, DeltaWritesOnlyTheBlocksThatDiffer) {
  Bytes big = BigFile();
  Bytes small(100, 7);
  repo::FileEntry big_entry = Store("big", big);
  repo::FileEntry small_entry = Store("small", small);
  auto write = [&](const std::string& name, const Bytes& content) {
    std::ofstream(dir_ + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()), content.size());
  };
  Bytes longer = big;  // block 3 changed, block 5 (zero) not zero, 5000 bytes too many
  longer[3 * kBlock + 17] ^= 1;
  longer[5 * kBlock + 99] = 1;
  longer.resize(big.size() + 5000, 9);
  write("longer", longer);
  Bytes shorter(big.begin(), big.begin() + 10 * kBlock + 100);  // blocks 10.. missing
  write("shorter", shorter);
  write("same", small);

  FileRestorerOptions options = Options();
  options.delta = true;
  FileRestorer restorer(*repo_, options, progress_);
  ASSERT_TRUE(restorer.Add(big_entry, dir_ + "/longer"));
  ASSERT_TRUE(restorer.Add(big_entry, dir_ + "/shorter"));
  ASSERT_TRUE(restorer.Add(small_entry, dir_ + "/same"));
  ASSERT_TRUE(restorer.Add(small_entry, dir_ + "/missing"));
  Status s = restorer.Finish();
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const char* name : {"longer", "shorter"}) EXPECT_EQ(Slurp(dir_ + "/" + name), AsString(big));
  for (const char* name : {"same", "missing"}) EXPECT_EQ(Slurp(dir_ + "/" + name), AsString(small));
  EXPECT_EQ(restorer.unchanged_files(), 1u);
  EXPECT_EQ(restorer.rewritten_files(), 3u);
  // longer: blocks 3 and 5; shorter: blocks 10-19 and 24-33 (20-23 and 34-37 are zero: the
  // extension leaves them as holes); missing: its 100 bytes.
  EXPECT_EQ(restorer.bytes_written(), 2 * kBlock + 20 * kBlock + 100);
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/same").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

INSTANTIATE_TEST_SUITE_P(Encryption, FileRestorerTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

// A block sealed under an id that is not its content's (a faulty writer): an unencrypted
// repository's CRC cannot tell, so restore still recomputes the id there.
TEST(FileRestorerIdCheckTest, UnencryptedRepositoryStillRecomputesBlockIds) {
  storage::MemStorage mem;
  repo::RepoParams params;
  params.encrypted = false;
  ASSERT_TRUE(repo::Repository::Create(mem, params, {}).ok());
  auto repo = repo::Repository::Open(std::make_unique<storage::BorrowedStorage>(mem), {});
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  pipeline::Hmac hmac((*repo)->id_key());
  Bytes block(kBlock, 3), other(kBlock, 4);
  repo::PackWriter packs((*repo)->storage(), (*repo)->codec(), 1 << 20, nullptr);
  repo::FileEntry e{.path = "f", .mode = 0600, .size = kBlock};
  repo::BlockRef ref{.id = hmac.Compute(block)};
  ref.loc = *packs.Add(ref.id, other);  // wrong content under block's id
  ASSERT_TRUE(packs.Flush().ok());
  e.blocks.push_back(ref);
  e.checksum = repo::FileChecksum(e.blocks);

  char tmpl[] = "/tmp/pgvault-file-restorer-test.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  NoProgress progress;
  FileRestorer restorer(**repo, {.block_size = kBlock, .jobs = 1, .backup_id = "B"}, progress);
  restorer.Add(e, dir + "/f");
  Status s = restorer.Finish();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("content does not match its block id"), std::string::npos)
      << s.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pgvault::restore

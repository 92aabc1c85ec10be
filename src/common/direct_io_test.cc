#include "common/direct_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "common/file.h"

namespace pgvault {
namespace {

Bytes RandomPiece(size_t size, std::mt19937& gen) {
  Bytes b(size);
  for (auto& byte : b) byte = static_cast<uint8_t>(gen());
  return b;
}

Bytes ReadBack(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), {});
}

// Writes, in increasing offsets: a run of aligned 128 KiB pieces longer than a chunk, a hole,
// more aligned pieces, and an unaligned tail; the file must hold exactly those bytes (zeros in
// the hole). Returns the bytes that went around the cache.
uint64_t WriteLikeARestore(const std::string& dir) {
  std::string path = dir + "/file";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600));
  EXPECT_TRUE(fd);
  std::mt19937 gen(3);
  Bytes expected;
  AlignedBuffer chunk;
  DirectWriter writer(fd.get(), path, chunk);
  constexpr size_t kPiece = 128 << 10;
  auto put = [&](uint64_t offset, size_t size) {
    Bytes piece = RandomPiece(size, gen);
    if (expected.size() < offset) expected.resize(offset, 0);
    expected.insert(expected.end(), piece.begin(), piece.end());
    ASSERT_TRUE(writer.Write(piece, offset).ok());
  };
  for (int piece_idx = 0; piece_idx < 20; ++piece_idx) put(piece_idx * kPiece, kPiece);
  for (int piece_idx = 21; piece_idx < 24; ++piece_idx) put(piece_idx * kPiece, kPiece);
  put(24 * kPiece, 1000);
  EXPECT_TRUE(writer.Flush().ok());
  EXPECT_EQ(::fcntl(fd.get(), F_GETFL) & O_DIRECT, 0) << "the caller's descriptor is untouched";
  fd.reset();
  EXPECT_EQ(ReadBack(path), expected);
  return writer.direct_bytes();
}

class DirectIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgvault-direct-io-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DirectIoTest, WriterGathersAlignedPiecesAndWritesTheRestThroughTheCache) {
  uint64_t direct = WriteLikeARestore(dir_);
  if (direct == 0) GTEST_SKIP() << dir_ << " does not support O_DIRECT";
  EXPECT_EQ(direct, 23u * (128 << 10)) << "every aligned piece, not the tail";
}

// tmpfs refused O_DIRECT before Linux 6.6: whichever it does here, the bytes are right.
TEST_F(DirectIoTest, WriterOnAFileSystemThatMayRefuseDirectIoWritesEveryByte) {
  char tmpl[] = "/dev/shm/pgvault-direct-io-test.XXXXXX";
  if (!mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm";
  WriteLikeARestore(tmpl);
  std::filesystem::remove_all(tmpl);
}

TEST(AlignedBufferTest, IsAlignedAndGrows) {
  AlignedBuffer buffer;
  std::span<uint8_t> small = buffer.Get(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % kDirectAlign, 0u);
  EXPECT_EQ(small.size(), 100u);
  std::span<uint8_t> big = buffer.Get(3 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % kDirectAlign, 0u);
  EXPECT_EQ(big.size(), 3u << 20);
}

class DirectReaderTest : public DirectIoTest {
 protected:
  // A file of size random bytes in dir, written and synced (its pages clean in the cache).
  std::string Write(const std::string& dir, size_t size) {
    content_.resize(size);
    std::mt19937 gen(42);
    for (auto& b : content_) b = static_cast<uint8_t>(gen());
    std::string path = dir + "/file";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    EXPECT_TRUE(WriteFull(fd.get(), content_, path).ok());
    EXPECT_EQ(::fsync(fd.get()), 0);
    return path;
  }

  // Reads the whole file slice by slice as the backup does; checks every byte.
  uint64_t ReadAll(const std::string& path, DirectIo mode, size_t slice = 2 << 20) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY));
    EXPECT_TRUE(fd);
    DirectReader reader(fd.get(), path, mode, content_.size());
    AlignedBuffer aligned;
    std::span<uint8_t> buf = aligned.Get(slice);
    Bytes back;
    for (uint64_t offset = 0;;) {
      auto n = reader.Read(buf, offset);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || *n == 0) break;
      back.insert(back.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
      offset += *n;
      // The caller's descriptor never turns O_DIRECT (page_check.cc re-reads pages through it).
      EXPECT_EQ(::fcntl(fd.get(), F_GETFL) & O_DIRECT, 0);
      if (*n < buf.size()) break;
    }
    EXPECT_EQ(back, content_);
    return reader.direct_bytes();
  }

  Bytes content_;
};

// A size that is no multiple of 4 KiB: the last slice's direct read comes back short (Linux
// returns the tail; a file system that does not is finished by the buffered read).
constexpr size_t kOddSize = (5 << 20) + 1234;

TEST_F(DirectReaderTest, OnReadsAroundTheCacheAndGetsEveryByte) {
  std::string path = Write(dir_, kOddSize);
  uint64_t direct = ReadAll(path, DirectIo::kOn);
  if (direct == 0) GTEST_SKIP() << dir_ << " does not support O_DIRECT";
  EXPECT_GE(direct, 5u << 20);
}

TEST_F(DirectReaderTest, AutoReadsCachedPagesThroughTheCacheAndColdOnesAround) {
  std::string path = Write(dir_, kOddSize);
  EXPECT_EQ(ReadAll(path, DirectIo::kAuto), 0u) << "just written: every page is cached";
  // Clean pages leave the cache on DONTNEED (not on tmpfs, whose pages are the file).
  UniqueFd fd(::open(path.c_str(), O_RDONLY));
  ASSERT_EQ(::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  void* map = ::mmap(nullptr, content_.size(), PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  std::vector<unsigned char> resident((content_.size() + 4095) / 4096);
  ASSERT_EQ(::mincore(map, content_.size(), resident.data()), 0);
  ::munmap(map, content_.size());
  size_t cached = 0;
  for (unsigned char r : resident) cached += r & 1;
  if (cached * 2 >= resident.size()) GTEST_SKIP() << dir_ << " keeps the file in the cache";
  if (ReadAll(path, DirectIo::kOn) == 0) GTEST_SKIP() << dir_ << " does not support O_DIRECT";
  EXPECT_GE(ReadAll(path, DirectIo::kAuto), 5u << 20) << "dropped from the cache: read around it";
}

TEST_F(DirectReaderTest, OffAndSmallOrUnalignedReadsUseTheCache) {
  std::string path = Write(dir_, kOddSize);
  EXPECT_EQ(ReadAll(path, DirectIo::kOff), 0u);
  EXPECT_EQ(ReadAll(path, DirectIo::kOn, DirectReader::kMinDirectRead / 2), 0u);
  EXPECT_EQ(ReadAll(path, DirectIo::kOn, DirectReader::kMinDirectRead + 512), 0u);
}

// tmpfs refused O_DIRECT before Linux 6.6: whichever it does here, the bytes are right.
TEST_F(DirectReaderTest, AFileSystemThatMayRefuseDirectIoStillReadsEveryByte) {
  char tmpl[] = "/dev/shm/pgvault-direct-io-test.XXXXXX";
  if (!mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm";
  std::string shm = tmpl;
  ReadAll(Write(shm, kOddSize), DirectIo::kOn);
  std::filesystem::remove_all(shm);
}

TEST(DirectIoParseTest, KnowsTheThreeModes) {
  DirectIo mode = DirectIo::kOff;
  EXPECT_TRUE(ParseDirectIo("auto", mode));
  EXPECT_EQ(mode, DirectIo::kAuto);
  EXPECT_TRUE(ParseDirectIo("on", mode));
  EXPECT_EQ(mode, DirectIo::kOn);
  EXPECT_FALSE(ParseDirectIo("yes", mode));
}

}  // namespace
}  // namespace pgvault

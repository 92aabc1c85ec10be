#include "common/direct_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

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

}  // namespace
}  // namespace pgvault

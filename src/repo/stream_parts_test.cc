// wal-stream's partial segments: names, sealing, newest-wins, deletion, and that archive-get's
// rules (only the longest part; a renamed part does not open) hold.
#include <gtest/gtest.h>

#include "repo/layout.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"

namespace pgvault::repo {
namespace {

constexpr std::string_view kSegment = "000000020000000A000000FE";

TEST(StreamPartsTest, NamesRoundTrip) {
  std::string key = StreamPartialKey(kSegment, 0x1234);
  EXPECT_EQ(key, "stream/00000002/000000020000000A000000FE.00001234");
  auto parsed = ParseStreamPartialKey(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->segment, kSegment);
  EXPECT_EQ(parsed->length, 0x1234u);
  EXPECT_EQ(ClassifyKey(key), ObjectKind::kStream);
  EXPECT_TRUE(key.starts_with(StreamPartialPrefix(kSegment)));
  for (std::string_view bad : {"stream/00000002/000000020000000A000000FE.0000123",
                               "stream/00000002/000000020000000A000000FE.0000123g",
                               "stream/00000003/000000020000000A000000FE.00001234",
                               "stream/00000002/000000020000000A000000FE",
                               "wal/00000002/000000020000000A000000FE.00001234",
                               "stream/00000002/00000002.history.00000001"})
    EXPECT_FALSE(ParseStreamPartialKey(bad)) << bad;
}

TEST(StreamPartsTest, TheLongestPartIsServedAndShorterOnesAreDeleted) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem, /*encrypted=*/true);
  ASSERT_TRUE(repo);
  Bytes segment = testing::TestWalSegment(kSegment, 1 << 20, 0x5a);
  auto none = NewestStreamPartial(*repo, kSegment);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  for (size_t length : {8192u, 16384u, 4096u})
    ASSERT_TRUE(PushStreamPartial(*repo, kSegment, ByteView(segment).first(length)).ok());
  // The same part again is fine; different bytes under the same length are a conflict.
  EXPECT_EQ(*PushStreamPartial(*repo, kSegment, ByteView(segment).first(8192)),
            PushOutcome::kAlreadyArchived);
  Bytes other = segment;
  other[100] ^= 1;
  EXPECT_EQ(PushStreamPartial(*repo, kSegment, ByteView(other).first(8192)).status().code(),
            Code::kConflict);
  auto newest = NewestStreamPartial(*repo, kSegment);
  ASSERT_TRUE(newest.ok()) << newest.status().ToString();
  ASSERT_TRUE(*newest);
  EXPECT_EQ(**newest, Bytes(segment.begin(), segment.begin() + 16384));
  auto position = LatestStreamedPosition(mem);
  ASSERT_TRUE(position.ok() && *position);
  EXPECT_EQ((*position)->segment, kSegment);
  EXPECT_EQ((*position)->length, 16384u);

  ASSERT_TRUE(DeleteStreamPartials(*repo, kSegment, 16384).ok());
  auto left = mem.List(StreamPartialPrefix(kSegment));
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].key, StreamPartialKey(kSegment, 16384));
  ASSERT_TRUE(DeleteStreamPartials(*repo, kSegment).ok());
  EXPECT_TRUE(mem.List(kStreamPrefix)->empty());
}

TEST(StreamPartsTest, APartRenamedToAnotherLengthDoesNotOpen) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem, /*encrypted=*/true);
  ASSERT_TRUE(repo);
  Bytes segment = testing::TestWalSegment(kSegment, 1 << 20, 0x11);
  ASSERT_TRUE(PushStreamPartial(*repo, kSegment, ByteView(segment).first(8192)).ok());
  auto sealed = mem.Get(StreamPartialKey(kSegment, 8192));
  ASSERT_TRUE(sealed.ok());
  ASSERT_TRUE(mem.Put(StreamPartialKey(kSegment, 9000), *sealed, {}).ok());
  auto newest = NewestStreamPartial(*repo, kSegment);
  EXPECT_EQ(newest.status().code(), Code::kCorruption);
  EXPECT_NE(newest.status().message().find(StreamPartialKey(kSegment, 9000)), std::string::npos)
      << newest.status().message();
}

}  // namespace
}  // namespace pgvault::repo

#include "pg/wal_names.h"

#include <gtest/gtest.h>

#include "pg/wal_header.h"

namespace pgvault::pg {
namespace {

TEST(WalNamesTest, LsnRoundTrip) {
  EXPECT_EQ(*ParseLsn("16/B374D848"), 0x16B374D848ull);
  EXPECT_EQ(FormatLsn(0x16B374D848ull), "16/B374D848");
  EXPECT_EQ(*ParseLsn("0/3000028"), 0x3000028ull);
  EXPECT_FALSE(ParseLsn("16B374D848"));
  EXPECT_FALSE(ParseLsn("x/1"));
}

TEST(WalNamesTest, SegmentNames) {
  EXPECT_EQ(SegmentName(1, 0x3000028, 16 << 20), "000000010000000000000003");
  EXPECT_EQ(SegmentName(2, 0x1FF000000ull, 16 << 20), "0000000200000001000000FF");
  uint32_t tl;
  uint64_t segno;
  ASSERT_TRUE(ParseSegmentName("0000000200000001000000FF", tl, segno, 16 << 20));
  EXPECT_EQ(tl, 2u);
  EXPECT_EQ(segno, 0x1FFu);
  EXPECT_EQ(ClassifyWalFileName("000000010000000000000003"), WalFileKind::kSegment);
  EXPECT_EQ(ClassifyWalFileName("000000010000000000000003.partial"), WalFileKind::kPartial);
  EXPECT_EQ(ClassifyWalFileName("00000002.history"), WalFileKind::kHistory);
  EXPECT_EQ(ClassifyWalFileName("000000010000000000000003.00000028.backup"),
            WalFileKind::kBackupHistory);
  EXPECT_EQ(ClassifyWalFileName("000000010000000000000003.gz"), WalFileKind::kInvalid);
  EXPECT_EQ(ClassifyWalFileName("postgresql.conf"), WalFileKind::kInvalid);
}

TEST(WalHeaderTest, RejectsWhatIsNotASegment) {
  Bytes small(1000, 0);
  EXPECT_EQ(ParseWalSegmentHeader(small).status().message(),
            "size 1000 is not a WAL segment size (a power of two from 1 MiB to 1 GiB)");
  Bytes zeros(16 << 20, 0);
  EXPECT_EQ(ParseWalSegmentHeader(zeros).status().message(), "no WAL page header (magic 0x0000)");
  Bytes seg(16 << 20, 0);
  seg[0] = 0x10, seg[1] = 0xD1, seg[2] = 0x02;  // PG 15 magic, XLP_LONG_HEADER
  seg[4] = 1;                                   // timeline 1
  seg[24] = 7;                                  // system identifier 7
  seg[32 + 3] = 1;                              // segment size 16 MiB (0x01000000)
  auto h = ParseWalSegmentHeader(seg);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->pg_version_major, 15);
  EXPECT_EQ(h->timeline, 1u);
  EXPECT_EQ(h->system_identifier, 7u);
}

}  // namespace
}  // namespace pgvault::pg

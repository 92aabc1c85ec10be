#include "pg/wal_header.h"

#include <gtest/gtest.h>

namespace pgvault::pg {
namespace {

WalSegmentHeader Header(uint64_t page_address, uint32_t segment_size = 16 << 20) {
  return {.pg_version_major = 15,
          .timeline = 1,
          .page_address = page_address,
          .system_identifier = 7,
          .segment_size = segment_size};
}

TEST(WalSegmentIdentityTest, AcceptsTheSegmentItsNameSays) {
  EXPECT_TRUE(CheckSegmentIdentity("'f'", "00000001000000010000002A", Header(0x12A000000)).ok());
  EXPECT_TRUE(CheckSegmentIdentity("'f'", "000000010000000000000003", Header(0x3000000)).ok());
  EXPECT_TRUE(
      CheckSegmentIdentity("'f'", "00000001000000010000002A.partial", Header(0x12A000000)).ok());
  // The first segment of a new timeline is a copy of its parent's: same address, older timeline.
  EXPECT_TRUE(CheckSegmentIdentity("'f'", "00000002000000010000002A", Header(0x12A000000)).ok());
  // 64 MiB segments: 64 per xlogid.
  EXPECT_TRUE(CheckSegmentIdentity("'f'", "00000001000000010000000B", Header(0x12C000000, 64 << 20),
                                   64 << 20)
                  .ok());
}

TEST(WalSegmentIdentityTest, RefusesAnotherSegmentUnderTheName) {
  // pg_wal/00000001000000010000002A copied to 00000001000000010000007F.
  Status s = CheckSegmentIdentity("'pg_wal/00000001000000010000007F'", "00000001000000010000007F",
                                  Header(0x12A000000));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "'pg_wal/00000001000000010000007F' is not WAL segment '00000001000000010000007F': "
            "its first page address is 1/2A000000 (segment '00000001000000010000002A'), "
            "expected 1/7F000000");
  EXPECT_NE(s.hint().find("%p"), std::string::npos) << s.hint();
}

TEST(WalSegmentIdentityTest, RefusesARecycledSegment) {
  // A recycled future segment keeps the header of the old segment it was until rewritten.
  Status s = CheckSegmentIdentity("'f'", "000000010000000000000009", Header(0x2000000));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "'f' is not WAL segment '000000010000000000000009': its first page address is "
            "0/2000000 (segment '000000010000000000000002'), expected 0/9000000");
}

TEST(WalSegmentIdentityTest, RefusesAnAddressInsideASegment) {
  Status s = CheckSegmentIdentity("'f'", "000000010000000000000003", Header(0x3002000));
  EXPECT_EQ(s.message(),
            "'f' is not WAL segment '000000010000000000000003': its first page address is "
            "0/3002000, expected 0/3000000");
}

TEST(WalSegmentIdentityTest, RefusesAnotherSegmentSize) {
  Status s = CheckSegmentIdentity("'f'", "000000010000000000000003", Header(0x3000000), 64 << 20);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "'f' has WAL segment size 16777216 but the cluster's is 67108864: it is not a segment "
            "of this cluster");
  // With 16 MiB segments the low part of a name is at most FF.
  s = CheckSegmentIdentity("'f'", "000000010000000000000100", Header(0x100000000));
  EXPECT_EQ(s.message(),
            "'000000010000000000000100' is not a segment name for 16777216-byte "
            "segments (its last 8 digits must be below 00000100)");
}

}  // namespace
}  // namespace pgvault::pg

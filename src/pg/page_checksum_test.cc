#include "pg/page_checksum.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace pgvault::pg {
namespace {

// A page PostgreSQL 15 wrote with data checksums on (test/fixtures/page-checksum/*.hex: hex
// lines, '#' comments).
std::vector<uint8_t> ReadHexFixture(const std::string& name) {
  std::ifstream in(std::string(PGVAULT_SOURCE_DIR) + "/test/fixtures/page-checksum/" + name);
  std::vector<uint8_t> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    for (size_t pos = 0; pos + 1 < line.size(); pos += 2)
      out.push_back(static_cast<uint8_t>(std::stoi(line.substr(pos, 2), nullptr, 16)));
  }
  return out;
}

// Block 3 of a heap relation; PostgreSQL stored 51937 in its pd_checksum.
constexpr uint32_t kFixtureBlock = 3;
constexpr uint16_t kFixtureChecksum = 51937;

TEST(PageChecksumTest, MatchesTheChecksumPostgresqlStoredInARealPage) {
  std::vector<uint8_t> page = ReadHexFixture("heap-block3.hex");
  ASSERT_EQ(page.size(), kDefaultPageSize);
  EXPECT_EQ(PageStoredChecksum(page.data()), kFixtureChecksum);
  EXPECT_EQ(PageChecksum(page.data(), page.size(), kFixtureBlock), kFixtureChecksum);
  PageCheck check = CheckPage(page.data(), page.size(), kFixtureBlock, 0);
  EXPECT_EQ(check.verdict, PageVerdict::kOk);
  EXPECT_EQ(check.computed, kFixtureChecksum);
}

TEST(PageChecksumTest, TheBlockNumberAndEveryByteButPdChecksumCount) {
  std::vector<uint8_t> page = ReadHexFixture("heap-block3.hex");
  ASSERT_EQ(page.size(), kDefaultPageSize);
  // The same bytes as another block of the relation: a page written at the wrong place fails.
  EXPECT_NE(PageChecksum(page.data(), page.size(), kFixtureBlock + 1), kFixtureChecksum);
  // pd_checksum itself is not part of the sum.
  page[8] ^= 0xFF;
  EXPECT_EQ(PageChecksum(page.data(), page.size(), kFixtureBlock), kFixtureChecksum);
  page[8] ^= 0xFF;
  // Garbage in the middle of the page.
  page[4000] ^= 0x01;
  PageCheck check = CheckPage(page.data(), page.size(), kFixtureBlock, 0);
  EXPECT_EQ(check.verdict, PageVerdict::kMismatch);
  EXPECT_EQ(check.stored, kFixtureChecksum);
  EXPECT_NE(check.computed, kFixtureChecksum);
}

TEST(PageChecksumTest, NewPagesAndPagesWrittenDuringTheBackupAreNotChecked) {
  std::vector<uint8_t> page = ReadHexFixture("heap-block3.hex");
  ASSERT_EQ(page.size(), kDefaultPageSize);
  page[4000] ^= 0x01;  // would fail
  uint64_t lsn = PageLsn(page.data());
  EXPECT_EQ(lsn, 24570784u);  // pd_lsn 0/176EBA0
  EXPECT_EQ(CheckPage(page.data(), page.size(), kFixtureBlock, lsn).verdict, PageVerdict::kTooNew);
  EXPECT_EQ(CheckPage(page.data(), page.size(), kFixtureBlock, lsn + 1).verdict,
            PageVerdict::kMismatch);
  std::vector<uint8_t> fresh(kDefaultPageSize, 0);
  fresh[100] = 1;  // pd_upper 0: extended, not yet initialised
  EXPECT_EQ(CheckPage(fresh.data(), fresh.size(), 0, 0).verdict, PageVerdict::kNew);
}

TEST(PageChecksumTest, KnowsWhichFilesHaveChecksums) {
  EXPECT_TRUE(HasPageChecksums("base/5/16384"));
  EXPECT_TRUE(HasPageChecksums("base/5/16384.2"));
  EXPECT_TRUE(HasPageChecksums("base/5/16384_fsm"));
  EXPECT_TRUE(HasPageChecksums("base/5/16384_vm"));
  EXPECT_TRUE(HasPageChecksums("global/1260"));
  EXPECT_TRUE(HasPageChecksums("pg_tblspc/16400/PG_15_202209061/5/16401"));
  EXPECT_FALSE(HasPageChecksums("global/pg_control"));
  EXPECT_FALSE(HasPageChecksums("global/pg_filenode.map"));
  EXPECT_FALSE(HasPageChecksums("base/5/pg_filenode.map"));
  EXPECT_FALSE(HasPageChecksums("base/5/PG_VERSION"));
  EXPECT_FALSE(HasPageChecksums("base/5/pg_internal.init"));
  EXPECT_FALSE(HasPageChecksums("base/5/pg_internal.init.1234"));
  EXPECT_FALSE(HasPageChecksums("base/pgsql_tmp/pgsql_tmp123.0"));
  EXPECT_FALSE(HasPageChecksums("pg_xact/0000"));
  EXPECT_FALSE(HasPageChecksums("postgresql.conf"));
  EXPECT_EQ(RelationSegment("base/5/16384"), 0u);
  EXPECT_EQ(RelationSegment("base/5/16384.3"), 3u);
  EXPECT_EQ(RelationSegment("base/5/16384_vm"), 0u);
}

}  // namespace
}  // namespace pgvault::pg

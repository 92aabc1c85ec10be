// WAL ranges: timeline history parsing, which timeline holds a segment, segment names for other
// segment sizes, and the gaps `info` reports, on an in-memory repository.
#include "repo/wal_ranges.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "repo/manifest.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"

namespace pgvault::repo {
namespace {

constexpr uint64_t k16M = 16ull << 20;
constexpr uint64_t k1G = 1ull << 30;

struct HistoryCase {
  std::string text;
  std::vector<HistoryEntry> want;
};

TEST(ParseHistoryTest, ReadsPostgresHistoryFiles) {
  const std::vector<HistoryCase> cases = {
      {"", {}},
      {"1\t0/3000158\tno recovery target specified\n",
       {{1, 0x3000158, "no recovery target specified"}}},
      {"# comment\n\n1\t0/3000158\tno recovery target specified\n"
       "2\t1/A0000000\tbefore 2024-05-01 14:31:07.25+00\n",
       {{1, 0x3000158, "no recovery target specified"},
        {2, 0x1A0000000, "before 2024-05-01 14:31:07.25+00"}}},
      {"1\t0/3000158", {{1, 0x3000158, ""}}},           // no reason, no newline
      {"1\t0/3000158\t  at restore point \"x\"  \r\n",  // CRLF, padding trimmed
       {{1, 0x3000158, "at restore point \"x\""}}},
      {"  3 16/B374D848 after xid 1234\n", {{3, 0x16B374D848, "after xid 1234"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto got = ParseHistory(c.text);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), c.want.size());
    for (size_t idx = 0; idx < c.want.size(); ++idx) {
      EXPECT_EQ((*got)[idx].tli, c.want[idx].tli);
      EXPECT_EQ((*got)[idx].switch_lsn, c.want[idx].switch_lsn);
      EXPECT_EQ((*got)[idx].reason, c.want[idx].reason);
    }
  }
}

TEST(ParseHistoryTest, RefusesLinesThatAreNotTimelineAndLsn) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x\t0/3000158\treason\n", "x\t0/3000158\treason"},
      {"1\tnot-an-lsn\n", "1\tnot-an-lsn"},
      {"0\t0/3000158\n", "0\t0/3000158"},  // timeline 0 does not exist
      {"1\n", "1"},                        // no LSN
      {"-1\t0/3000158\n", "-1\t0/3000158"},
      {"4294967297\t0/3000158\n", "4294967297\t0/3000158"},  // past UINT32_MAX
      {"1\t0/1\n2 0/2 ok\n+3\t0/3\n", "+3\t0/3"},
  };
  for (const auto& [text, line] : cases) {
    SCOPED_TRACE(text);
    auto got = ParseHistory(text);
    EXPECT_EQ(got.status().code(), Code::kCorruption);
    EXPECT_EQ(got.status().message(), fmt::format("bad timeline history line '{}'", line));
  }
}

TEST(TimelinePathTest, AppendsTheTargetTimelineOpenEnded) {
  auto path = TimelinePath(3, {{1, 0x3000158, "a"}, {2, 0x5000000, "b"}});
  ASSERT_EQ(path.size(), 3u);
  EXPECT_EQ(path[2].tli, 3u);
  EXPECT_EQ(path[2].switch_lsn, UINT64_MAX);
  EXPECT_EQ(TimelinePath(1, {}).size(), 1u);
}

TEST(WalIndexTest, TimelineForASegmentAcrossSwitches) {
  // Timeline 1 ends inside segment 3, timeline 2 at the start of segment 5: the segment that
  // holds a switch point belongs to the new timeline.
  const auto path = TimelinePath(3, {{1, 0x3000158, ""}, {2, 0x5000000, ""}});
  const std::vector<std::pair<uint64_t, uint32_t>> cases = {{1, 1}, {2, 1}, {3, 2},   {4, 2},
                                                            {5, 3}, {6, 3}, {1000, 3}};
  for (auto [segno, tli] : cases)
    EXPECT_EQ(WalIndex::TimelineFor(segno, path, k16M), tli) << "segment " << segno;
  // 1 GiB segments: both switches fall in segment 0.
  EXPECT_EQ(WalIndex::TimelineFor(0, path, k1G), 3u);
  EXPECT_EQ(WalIndex::TimelineFor(0, TimelinePath(1, {}), k16M), 1u);
}

Status Push(Repository& repo, const std::string& name, std::string_view content = "x") {
  auto pushed = PushWal(repo, name, AsBytes(content));
  return pushed.ok() ? Status::Ok() : pushed.status();
}

TEST(WalIndexTest, NamesAndMissingSegmentsForOtherSegmentSizes) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  // 1 GiB segments: four per xlogid, so segment 5 is 00000001 00000001 00000001.
  for (const char* name :
       {"000000010000000000000002", "000000010000000000000003", "000000010000000100000001"})
    ASSERT_TRUE(Push(*repo, name).ok());
  auto index = WalIndex::Load(*repo, k1G);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->segment_size(), k1G);
  EXPECT_EQ(index->Segments(1), (std::set<uint64_t>{2, 3, 5}));
  EXPECT_EQ(index->Name(1, 4), "000000010000000100000000");
  EXPECT_EQ(index->Missing(2, 6, TimelinePath(1, {})),
            (std::vector<std::string>{"000000010000000100000000", "000000010000000100000002"}));
  EXPECT_EQ(index->Missing(2, 6, TimelinePath(1, {}), 1),
            (std::vector<std::string>{"000000010000000100000000"}));
  // 64 MiB: 64 per xlogid; 16 MiB: 256.
  EXPECT_EQ(WalIndex::Load(*repo, 64ull << 20)->Name(2, 65), "000000020000000100000001");
  EXPECT_EQ(WalIndex::Load(*repo, k16M)->Name(2, 257), "000000020000000100000001");
  EXPECT_EQ(WalIndex::Load(*repo, 0)->segment_size(), k16M);  // 0 = the default
}

TEST(WalIndexTest, MissingFollowsTheTimelinePath) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  for (const char* name : {"000000010000000000000001", "000000010000000000000002",
                           "000000010000000000000003",  // tli 1 went on past the switch
                           "000000020000000000000003", "000000020000000000000005"})
    ASSERT_TRUE(Push(*repo, name).ok());
  ASSERT_TRUE(Push(*repo, "00000002.history", "1\t0/3000158\tno recovery target specified\n").ok());
  auto index = WalIndex::Load(*repo, k16M);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->Timelines(), (std::vector<uint32_t>{1, 2}));
  EXPECT_TRUE(index->HasHistory(2));
  EXPECT_FALSE(index->HasHistory(1));
  EXPECT_EQ(index->LatestTimeline(), 2u);
  auto history = index->History(*repo, 2);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].reason, "no recovery target specified");
  EXPECT_TRUE(index->History(*repo, 1)->empty());
  EXPECT_EQ(index->Missing(1, 6, TimelinePath(2, *history)),
            (std::vector<std::string>{"000000020000000000000004", "000000020000000000000006"}));
  // Along timeline 1 alone, its own segment 3 is there.
  EXPECT_EQ(index->Missing(1, 4, TimelinePath(1, {})),
            (std::vector<std::string>{"000000010000000000000004"}));
}

TEST(WalIndexTest, ADamagedHistoryFileIsNamed) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  ASSERT_TRUE(Push(*repo, "00000002.history", "garbage\n").ok());
  auto index = WalIndex::Load(*repo, k16M);
  ASSERT_TRUE(index.ok());
  auto history = index->History(*repo, 2);
  EXPECT_EQ(history.status().code(), Code::kCorruption);
  EXPECT_EQ(history.status().message(),
            "reading '00000002.history': bad timeline history line 'garbage'");
  // The archive is still described, the damage named with its timeline.
  auto ranges = DescribeTimelines(*repo, *index, std::nullopt);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_EQ((*ranges)[0].history_damage, history.status().message());
}

// "latest" is the newest timeline with anything archived, also one whose history file is lost.
TEST(WalIndexTest, TheLatestTimelineNeedsNoHistoryFileToCount) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  for (const char* name : {"000000010000000000000001", "000000020000000000000002"})
    ASSERT_TRUE(Push(*repo, name).ok());
  auto index = WalIndex::Load(*repo, k16M);
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE(index->HasHistory(2));
  EXPECT_EQ(index->LatestTimeline(), 2u);
}

TEST(DescribeTimelinesTest, GapsPerTimelineFromWhereEachBegins) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  for (const char* name :
       {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
        "000000010000000000000005", "000000020000000000000003", "000000020000000000000004",
        "000000020000000000000007", "000000020000000000000008", "000000040000000000000009"})
    ASSERT_TRUE(Push(*repo, name).ok());
  ASSERT_TRUE(Push(*repo, "00000002.history", "1\t0/3000158\tno recovery target specified\n").ok());
  ASSERT_TRUE(Push(*repo, "00000003.history",
                   "1\t0/3000158\tno recovery target specified\n"
                   "2\t0/8000000\tbefore 2024-05-01 14:31:07+00\n")
                  .ok());
  auto index = WalIndex::Load(*repo, k16M);
  ASSERT_TRUE(index.ok());
  auto ranges = DescribeTimelines(*repo, *index, std::nullopt);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  ASSERT_EQ(ranges->size(), 4u);

  const TimelineRange& t1 = (*ranges)[0];
  EXPECT_EQ(t1.tli, 1u);
  EXPECT_FALSE(t1.parent);
  EXPECT_EQ(t1.first, "000000010000000000000001");
  EXPECT_EQ(t1.last, "000000010000000000000005");
  EXPECT_EQ(t1.segments, 4u);
  EXPECT_EQ(t1.missing, 1u);
  EXPECT_EQ(t1.gaps, std::vector<std::string>{"000000010000000000000004"});

  const TimelineRange& t2 = (*ranges)[1];
  ASSERT_TRUE(t2.parent);
  EXPECT_EQ(t2.parent->tli, 1u);
  EXPECT_EQ(t2.parent->switch_lsn, 0x3000158u);
  EXPECT_EQ(t2.parent->reason, "no recovery target specified");
  EXPECT_EQ(t2.segments, 4u);
  EXPECT_EQ(t2.missing, 2u);
  EXPECT_EQ(t2.gaps,
            std::vector<std::string>{"000000020000000000000005 .. 000000020000000000000006"});

  const TimelineRange& t3 = (*ranges)[2];  // a history file and no segment yet
  EXPECT_EQ(t3.tli, 3u);
  ASSERT_TRUE(t3.parent);
  EXPECT_EQ(t3.parent->tli, 2u);
  EXPECT_EQ(t3.parent->reason, "before 2024-05-01 14:31:07+00");
  EXPECT_EQ(t3.segments, 0u);
  EXPECT_EQ(t3.first, "");
  EXPECT_EQ(t3.missing, 0u);

  const TimelineRange& t4 = (*ranges)[3];  // no history file: counted from its first segment
  EXPECT_EQ(t4.tli, 4u);
  EXPECT_FALSE(t4.parent);
  EXPECT_EQ(t4.missing, 0u);
  EXPECT_TRUE(t4.gaps.empty());

  // From segment 2 on (the oldest backup's start), timeline 1's segment 1 is not counted, and a
  // later start never moves timeline 2 before its own beginning.
  auto from2 = DescribeTimelines(*repo, *index, 2);
  ASSERT_TRUE(from2.ok());
  EXPECT_EQ((*from2)[0].missing, 1u);
  EXPECT_EQ((*from2)[1].missing, 2u);
  // From segment 0: timeline 1 lacks segment 0 too.
  auto from0 = DescribeTimelines(*repo, *index, 0);
  ASSERT_TRUE(from0.ok());
  EXPECT_EQ((*from0)[0].gaps,
            (std::vector<std::string>{"000000010000000000000000", "000000010000000000000004"}));
}

TEST(DescribeArchiveTest, UsesTheOldestBackupsStartAndSegmentSize) {
  storage::MemStorage mem;
  auto repo = testing::OpenMemRepo(mem);
  for (const char* name : {"000000010000000000000001", "000000010000000000000003",
                           "000000010000000100000000", "000000010000000100000002"})
    ASSERT_TRUE(Push(*repo, name).ok());
  uint64_t segment_size = k16M;
  // No backup: counted from the first archived segment, with the size given.
  auto ranges = DescribeArchive(*repo, segment_size);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  EXPECT_EQ(segment_size, k16M);
  EXPECT_EQ((*ranges)[0].missing, 254u);  // 1 .. 258 holds four of them
  // A backup of a cluster with 1 GiB segments that started in segment 3.
  ManifestWriter writer(repo->storage(), repo->codec(), "20261128-120000F", 4096);
  ASSERT_TRUE(writer
                  .Finish({.backup_id = "20261128-120000F",
                           .start_wal = "000000010000000000000003",
                           .wal_segment_size = k1G,
                           .block_size = 131072})
                  .ok());
  ranges = DescribeArchive(*repo, segment_size);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  EXPECT_EQ(segment_size, k1G);
  const TimelineRange& t1 = (*ranges)[0];
  EXPECT_EQ(t1.segments, 4u);
  EXPECT_EQ(t1.first, "000000010000000000000001");
  EXPECT_EQ(t1.last, "000000010000000100000002");
  EXPECT_EQ(t1.missing, 1u);  // segment 5 = 00000001 00000001, from segment 3 on
  EXPECT_EQ(t1.gaps, std::vector<std::string>{"000000010000000100000001"});
}

}  // namespace
}  // namespace pgvault::repo

// Recovery targets: parsing and validation, and choosing the backup for a target time, LSN or xid
// along the target timeline's history, on an in-memory repository (manifest headers and WAL
// names are all ChooseBackup reads; no server is needed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pg/wal_names.h"
#include "repo/manifest.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"
#include "restore/restore.h"

namespace pgvault::restore {
namespace {

using Kind = RecoveryTarget::Kind;

TEST(TargetTimeTest, ParsesPostgresTimesWithAZone) {
  const int64_t base = 1714573867;  // 2024-05-01 14:31:07 UTC
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"2024-05-01 14:31:07+00", base * 1000000},
      {"2024-05-01 14:31:07Z", base * 1000000},
      {"2024-05-01T14:31:07.25+00", base * 1000000 + 250000},
      {"2024-05-01 14:31:07.1234567+00", base * 1000000 + 123456},
      {"2024-05-01 14:31:07+02", (base - 7200) * 1000000},
      {"2024-05-01 14:31:07+02:00", (base - 7200) * 1000000},
      {"2024-05-01 14:31:07 -0530", (base + 19800) * 1000000},
  };
  for (const auto& [text, micros] : cases) {
    auto got = ParseTargetTime(text);
    ASSERT_TRUE(got) << text;
    EXPECT_EQ(*got, micros) << text;
  }
  for (const char* bad : {"2024-05-01 14:31:07", "2024-13-01 14:31:07+00", "2024-05-01 24:00:00Z",
                          "2024-05-01 14:31:07.+00", "2024-05-01 14:31:07+0", "yesterday",
                          "2024-05-01 14:31:07+00:0", "2024-05-01 14:31:07Zx"})
    EXPECT_FALSE(ParseTargetTime(bad)) << bad;
}

TEST(ValidateTargetTest, RefusesBadValuesNamingThem) {
  struct Case {
    RecoveryTarget target;
    std::string message;  // "" = valid
  };
  const std::vector<Case> cases = {
      {{.kind = Kind::kTime, .value = "2024-05-01 14:31:07+00"}, ""},
      {{.kind = Kind::kTime, .value = "2024-05-01 14:31:07"},
       "bad --target-time '2024-05-01 14:31:07'"},
      {{.kind = Kind::kLsn, .value = "0/3000158"}, ""},
      {{.kind = Kind::kLsn, .value = "3000158"}, "bad --target-lsn '3000158'"},
      {{.kind = Kind::kXid, .value = "1234"}, ""},
      {{.kind = Kind::kXid, .value = "12a"}, "bad --target-xid '12a'"},
      {{.kind = Kind::kXid, .value = ""}, "bad --target-xid ''"},
      {{.kind = Kind::kName, .value = std::string(64, 'n')},
       "bad --target-name: empty or longer than 63 bytes"},
      {{.kind = Kind::kImmediate, .inclusive = true},
       "--target-inclusive applies only to --target-time, --target-lsn and --target-xid"},
      {{.kind = Kind::kEndOfWal, .action = "promote"}, "--target-action needs a recovery target"},
      {{.kind = Kind::kEndOfWal, .timeline = "latest"}, ""},
      {{.kind = Kind::kEndOfWal, .timeline = "current"}, ""},
      {{.kind = Kind::kEndOfWal, .timeline = "2"}, ""},
      {{.kind = Kind::kEndOfWal, .timeline = "0"}, "bad --target-timeline '0'"},
      {{.kind = Kind::kEndOfWal, .timeline = "two"}, "bad --target-timeline 'two'"},
      {{.kind = Kind::kEndOfWal, .timeline = "4294967296"}, "bad --target-timeline '4294967296'"},
  };
  for (Case c : cases) {
    Status s = ValidateTarget(c.target);
    if (c.message.empty()) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kInvalidArgument);
      EXPECT_EQ(s.message(), c.message);
      EXPECT_FALSE(s.hint().empty()) << c.message;
    }
  }
  RecoveryTarget lsn{.kind = Kind::kLsn, .value = "16/B374D848"};
  ASSERT_TRUE(ValidateTarget(lsn).ok());
  EXPECT_EQ(lsn.lsn, 0x16B374D848u);
}

struct TestBackup {
  std::string id;
  uint32_t timeline;
  std::string stop_lsn;
  std::string stop_time;  // UTC, "YYYY-MM-DD HH:MM:SS+00"
};

Status AddBackup(repo::Repository& repo, const TestBackup& b) {
  repo::ManifestWriter writer(repo.storage(), repo.codec(), b.id, 4096);
  return writer.Finish({.backup_id = b.id,
                        .timeline = b.timeline,
                        .stop_lsn = *pg::ParseLsn(b.stop_lsn),
                        .wal_segment_size = 16u << 20,
                        .stop_time = b.stop_time,
                        .stop_time_unix_micros = *ParseTargetTime(b.stop_time),
                        .block_size = 131072});
}

Status AddWal(repo::Repository& repo, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    std::string content =
        name.ends_with(".history") ? "1\t0/5000000\tno recovery target specified\n" : "segment";
    auto pushed = repo::PushWal(repo, name, AsBytes(content));
    if (!pushed.ok()) return pushed.status();
  }
  return Status::Ok();
}

std::string Seg(uint32_t tli, uint64_t segno) {
  return fmt::format("{:08X}{:08X}{:08X}", tli, segno >> 8, segno & 0xff);
}

// Timeline 1 ran to segment 6; timeline 2 branched from it at 0/5000000 (a promoted standby
// or PITR), and a backup was taken on timeline 2, so following timeline 2 is unambiguous.
class ChooseBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = repo::testing::OpenMemRepo(mem_);
    for (const TestBackup& b : {
             TestBackup{"20240501-100000F", 1, "0/2000100", "2024-05-01 10:00:30+00"},
             TestBackup{"20240501-110000F", 1, "0/4000100", "2024-05-01 11:00:30+00"},
             TestBackup{"20240501-120000F", 1, "0/6000100", "2024-05-01 12:00:30+00"},
             TestBackup{"20240501-130000F", 2, "0/7000100", "2024-05-01 13:00:30+00"},
         })
      ASSERT_TRUE(AddBackup(*repo_, b).ok());
    std::vector<std::string> wal = {"00000002.history"};
    for (uint64_t segno = 1; segno <= 6; ++segno) wal.push_back(Seg(1, segno));
    for (uint64_t segno = 5; segno <= 8; ++segno) wal.push_back(Seg(2, segno));
    ASSERT_TRUE(AddWal(*repo_, wal).ok());
  }
  Result<RestorePlan> Choose(Kind kind, std::string value, std::string timeline = "",
                             std::string requested = "") {
    RecoveryTarget t{.kind = kind, .value = std::move(value), .timeline = std::move(timeline)};
    Status valid = ValidateTarget(t);
    EXPECT_TRUE(valid.ok()) << valid.ToString();
    return ChooseBackup(*repo_, t, requested);
  }
  storage::MemStorage mem_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(ChooseBackupTest, NewestBackupOnThePathThatEndsBeforeTheTarget) {
  struct Case {
    Kind kind;
    std::string value, timeline, requested;
    std::string id, reason;
  };
  const std::vector<Case> cases = {
      {Kind::kEndOfWal, "", "", "", "20240501-130000F", "newest backup on timeline 2"},
      {Kind::kXid, "1234", "", "", "20240501-130000F", "newest backup on timeline 2"},
      {Kind::kName, "before_upgrade", "latest", "", "20240501-130000F",
       "newest backup on timeline 2"},
      // The 12:00 backup is on timeline 1 past the branch point: not on timeline 2's history.
      {Kind::kTime, "2024-05-01 12:45:00+00", "", "", "20240501-110000F",
       "newest backup on timeline 2 that ends before time '2024-05-01 12:45:00+00'"},
      {Kind::kTime, "2024-05-01 11:00:30+00", "", "", "20240501-100000F",
       "newest backup on timeline 2 that ends before time '2024-05-01 11:00:30+00'"},
      {Kind::kLsn, "0/4000100", "", "", "20240501-110000F",
       "newest backup on timeline 2 that ends before lsn 0/4000100"},
      {Kind::kLsn, "0/40000FF", "", "", "20240501-100000F",
       "newest backup on timeline 2 that ends before lsn 0/40000FF"},
      {Kind::kEndOfWal, "", "1", "", "20240501-120000F", "newest backup on timeline 1"},
      {Kind::kTime, "2024-05-01 12:45:00+00", "1", "", "20240501-120000F",
       "newest backup on timeline 1 that ends before time '2024-05-01 12:45:00+00'"},
      {Kind::kEndOfWal, "", "current", "", "20240501-130000F", "newest backup"},
      {Kind::kEndOfWal, "", "1", "20240501-100000F", "20240501-100000F", "requested with --backup"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("{} timeline '{}' backup '{}'", c.value, c.timeline, c.requested));
    auto choice = Choose(c.kind, c.value, c.timeline, c.requested);
    ASSERT_TRUE(choice.ok()) << choice.status().ToString();
    EXPECT_EQ(choice->backup_id, c.id);
    EXPECT_EQ(choice->reason, c.reason);
  }
}

TEST_F(ChooseBackupTest, RefusesTargetsNoBackupCanReach) {
  auto early = Choose(Kind::kTime, "2024-05-01 09:00:00+00");
  EXPECT_EQ(early.status().code(), Code::kNotFound);
  EXPECT_EQ(early.status().message(),
            "no backup can reach time '2024-05-01 09:00:00+00': the oldest backup "
            "'20240501-100000F' ends at 2024-05-01 10:00:30+00 (lsn 0/2000100)");
  EXPECT_EQ(early.status().hint(), "choose a later target; nothing was written");

  auto chosen = Choose(Kind::kLsn, "0/3000000", "latest", "20240501-110000F");
  EXPECT_EQ(chosen.status().code(), Code::kNotFound);
  EXPECT_EQ(chosen.status().message(),
            "no backup chosen can reach lsn 0/3000000: the backup '20240501-110000F' ends at "
            "2024-05-01 11:00:30+00 (lsn 0/4000100)");

  auto off_path = Choose(Kind::kEndOfWal, "", "1", "20240501-130000F");
  EXPECT_EQ(off_path.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(off_path.status().message(),
            "backup '20240501-130000F' (timeline 2) is not on the history of the target "
            "timeline on timeline 1");

  auto missing = Choose(Kind::kEndOfWal, "", "", "20240501-140000F");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "backup '20240501-140000F' is not in repository 'mem:'");

  auto no_history = Choose(Kind::kEndOfWal, "", "3");
  EXPECT_EQ(no_history.status().code(), Code::kNotFound);
  EXPECT_EQ(no_history.status().message(),
            "timeline 3 has no history file '00000003.history' in the repository");
}

// With --backup, the other backups still count: one taken on timeline 2 proves timeline 2 is the
// cluster's own history, so the default timeline is not ambiguous.
TEST_F(ChooseBackupTest, ARequestedBackupDoesNotHideABackupOnTheBranch) {
  auto choice = Choose(Kind::kEndOfWal, "", "", "20240501-100000F");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->backup_id, "20240501-100000F");
  EXPECT_EQ(choice->reason, "requested with --backup");
}

TEST(ChooseBackupEmptyTest, ARepositoryWithoutBackupsIsNotFound) {
  storage::MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  auto choice = ChooseBackup(*repo, RecoveryTarget{}, "");
  EXPECT_EQ(choice.status().code(), Code::kNotFound);
  EXPECT_EQ(choice.status().message(), "repository 'mem:' holds no backup");
}

// Timeline 2 branched from timeline 1, which went on past the branch, and no backup was taken
// on timeline 2: the default (latest) is ambiguous and refused; naming a timeline is not.
TEST(ChooseBackupAmbiguityTest, ABranchThatTheParentOutlivedIsRefusedUnlessNamed) {
  storage::MemStorage mem;
  auto repo = repo::testing::OpenMemRepo(mem);
  ASSERT_TRUE(
      AddBackup(*repo, {"20240501-100000F", 1, "0/2000100", "2024-05-01 10:00:30+00"}).ok());
  std::vector<std::string> wal = {"00000002.history"};
  for (uint64_t segno = 1; segno <= 6; ++segno) wal.push_back(Seg(1, segno));
  for (uint64_t segno = 5; segno <= 6; ++segno) wal.push_back(Seg(2, segno));
  ASSERT_TRUE(AddWal(*repo, wal).ok());
  auto choice = ChooseBackup(*repo, RecoveryTarget{}, "");
  EXPECT_EQ(choice.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(choice.status().message(),
            "timeline 2 in the repository branched from timeline 1 at 0/5000000 (PostgreSQL's "
            "reason: 'no recovery target specified'), but timeline 1 goes on past that point to "
            "'000000010000000000000006': probably an earlier restore that was promoted and "
            "archived into this repository");
  EXPECT_EQ(choice.status().hint(),
            "pass --target-timeline 1 to recover along timeline 1, or --target-timeline latest to "
            "follow timeline 2; nothing was written");
  for (const char* timeline : {"1", "latest", "2"}) {
    auto named = ChooseBackup(*repo, RecoveryTarget{.timeline = timeline}, "");
    ASSERT_TRUE(named.ok()) << timeline << ": " << named.status().ToString();
    EXPECT_EQ(named->backup_id, "20240501-100000F");
  }
}

}  // namespace
}  // namespace pgvault::restore

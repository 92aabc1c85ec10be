// Point-in-time recovery against a real PostgreSQL 15 under pgbench load: marks are recorded
// while writers are held off for an instant (LOCK ... IN EXCLUSIVE MODE), so each mark's table
// checksums are exactly the database state at its time, LSN, xid and restore point. Restores to
// each kind of target must reproduce them exactly.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "marks.h"
#include "pg/session.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

using namespace std::chrono_literals;

class PitrTest : public VaultTest {
 protected:
  PitrTest() : VaultTest("pitr") {}
  // The restored server does not archive: its WAL would land in the source's repository.
  ProcessResult RestoreAndStart(const std::string& pgdata, int port,
                                std::vector<std::string> args) {
    args.insert(args.begin(), {"--archive-mode", "off"});
    return VaultTest::RestoreAndStart(pgdata, port, args);
  }
};

TEST_F(PitrTest, FiveTargetKindsMatchMarksExactly) {
  ASSERT_EQ(Vault({"repo-create"}).exit_code, 0);
  auto src = PgCluster::Create({.archive_command = ArchivePushCommand(repo_, key_)});
  src->RunPgbench({"-i", "-s", "1", "-q"});
  src->Exec(kCreateMarksTableSql);
  std::string quiet_sums = src->Scalar(std::string("SELECT ") + kSumsSql);
  auto b1 = Backup(*src);
  ASSERT_EQ(b1.exit_code, 0) << b1.err;

  auto bench = src->StartPgbench({"-c", "2", "-T", "600", "-n"});
  std::string lsn0 = src->Scalar("SELECT pg_current_wal_lsn()");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Mark> marks;
  for (int id = 1; id <= 3; ++id) {
    std::this_thread::sleep_for(2s);
    marks.push_back(RecordMark(*src, id));
  }
  auto b2 = Backup(*src);
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  for (int id = 4; id <= 7; ++id) {
    std::this_thread::sleep_for(2s);
    marks.push_back(RecordMark(*src, id));
  }
  std::string lsn1 = src->Scalar("SELECT pg_current_wal_lsn()");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string wal_bytes =
      src->Scalar(fmt::format("SELECT '{}'::pg_lsn - '{}'::pg_lsn", lsn1, lsn0));
  ReportFigure("pgbench_wal_mb_per_s", fmt::format("{:.2f}", std::stod(wal_bytes) / 1e6 / secs));
  bench->Signal(SIGTERM);
  bench->Wait();
  std::string last_segment = src->SwitchWalAndWaitArchived();

  auto ids = Vault({"info", "--json"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  auto info = nlohmann::json::parse(ids.out);
  ASSERT_EQ(info["backups"].size(), 2u);
  std::string b1_id = info["backups"][0]["id"], b2_id = info["backups"][1]["id"];
  ASSERT_EQ(info["timelines"].size(), 1u);
  EXPECT_EQ(info["timelines"][0]["missing_segments"], 0);
  EXPECT_EQ(info["timelines"][0]["last"], last_segment);

  struct Case {
    std::string label;
    std::vector<std::string> args;
    const Mark* mark;
    std::string backup;     // expected choice
    bool mark_row_present;  // is the mark's own row in the copy
  };
  std::vector<Case> cases = {
      {"time",
       {"--target-time", marks[1].time, "--target-action", "promote"},
       &marks[1],
       b1_id,
       false},
      {"lsn",
       {"--target-lsn", marks[4].lsn, "--target-action", "promote"},
       &marks[4],
       b2_id,
       false},
      {"xid-exclusive",
       {"--target-xid", marks[5].xid, "--target-inclusive", "false", "--target-action", "pause"},
       &marks[5],
       b2_id,
       false},
      {"xid-inclusive",
       {"--target-xid", marks[5].xid, "--target-inclusive", "true", "--target-action", "promote"},
       &marks[5],
       b2_id,
       true},
      {"name",
       {"--target-name", marks[6].name, "--target-action", "promote"},
       &marks[6],
       b2_id,
       false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir("restored-" + c.label);
    int port = FreePort();
    auto r = RestoreAndStart(dir.Sub("pgdata"), port, c.args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("restore of backup " + c.backup + " ("), std::string::npos) << r.out;
    Restored restored(dir.Sub("pgdata"), port);
    EXPECT_EQ(restored.Scalar(std::string("SELECT ") + kSumsSql), c.mark->sums);
    EXPECT_EQ(restored.Scalar(fmt::format("SELECT count(*) FROM marks WHERE id = {}", c.mark->id)),
              c.mark_row_present ? "1" : "0");
    EXPECT_EQ(restored.Scalar(fmt::format("SELECT count(*) FROM marks WHERE id < {}", c.mark->id)),
              std::to_string(c.mark->id - 1));
    if (c.label == "xid-exclusive") {
      EXPECT_NE(r.out.find("recovery paused at the target"), std::string::npos) << r.out;
      EXPECT_EQ(restored.Scalar("SELECT pg_is_in_recovery()"), "t");
    } else {
      EXPECT_NE(r.out.find("recovery promoted after"), std::string::npos) << r.out;
      EXPECT_EQ(restored.Scalar("SELECT pg_is_in_recovery()"), "f");
    }
  }

  {  // --target-immediate on the quiet backup: exactly the data at its end
    TempDir dir("restored-immediate");
    int port = FreePort();
    auto r =
        RestoreAndStart(dir.Sub("pgdata"), port,
                        {"--backup", b1_id, "--target-immediate", "--target-action", "promote"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    Restored restored(dir.Sub("pgdata"), port);
    EXPECT_EQ(restored.Scalar(std::string("SELECT ") + kSumsSql), quiet_sums);
    EXPECT_EQ(restored.Scalar("SELECT count(*) FROM marks"), "0");
  }

  {  // --target-action shutdown: the server stops at the target and says so
    TempDir dir("restored-shutdown");
    auto r = RestoreAndStart(dir.Sub("pgdata"), FreePort(),
                             {"--target-lsn", marks[3].lsn, "--target-action", "shutdown"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("recovery shut down at the target"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("recovery stopping after WAL location (LSN) \"" + marks[3].lsn + "\""),
              std::string::npos)
        << r.out;
  }

  {  // a target older than every backup: refused, nothing written
    TempDir dir("restored-too-early");
    auto r = Vault(
        {"restore", "--pgdata", dir.Sub("pgdata"), "--target-time", "2001-01-01 00:00:00+00"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("error: no backup can reach time '2001-01-01 00:00:00+00': the oldest "
                         "backup '" +
                         b1_id + "' ends at "),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("HINT: choose a later target; nothing was written"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir.Sub("pgdata")));
  }

  // check: a WAL switch reaches the repository; no gaps.
  auto check = Vault({"check", "--pg-host", "127.0.0.1", "--pg-port", std::to_string(src->port())});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("archive_command works: segment "), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("archived WAL is continuous from the oldest backup"), std::string::npos);

  // A segment missing in the middle of the needed range: named, before or during recovery.
  uint64_t lsn4 = std::stoull(marks[3].lsn.substr(0, marks[3].lsn.find('/')), nullptr, 16) << 32 |
                  std::stoull(marks[3].lsn.substr(marks[3].lsn.find('/') + 1), nullptr, 16);
  std::string hole = fmt::format("00000001{:08X}{:08X}", lsn4 >> 32, (lsn4 & 0xffffffff) >> 24);
  std::string hole_path = repo_ + "/wal/00000001/" + hole;
  ASSERT_TRUE(std::filesystem::exists(hole_path)) << hole_path;
  std::filesystem::rename(hole_path, work_.Sub("hole"));
  {
    TempDir dir("restored-hole-lsn");
    auto r = Vault({"restore", "--pgdata", dir.Sub("pgdata"), "--backup", b1_id, "--target-lsn",
                    marks[6].lsn});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("error: WAL segment '" + hole + "' needed to reach lsn " + marks[6].lsn +
                         " is missing from the repository"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.Sub("pgdata")));
  }
  {
    TempDir dir("restored-hole-name");
    auto r = RestoreAndStart(dir.Sub("pgdata"), FreePort(),
                             {"--backup", b1_id, "--target-name", marks[6].name});
    EXPECT_EQ(r.exit_code, 9) << r.out << r.err;
    EXPECT_NE(
        r.err.find("error: the restored cluster stopped during recovery: error: WAL segment '" +
                   hole + "' is missing from the repository but later WAL of timeline 1"),
        std::string::npos)
        << r.err;
    auto info_text = Vault({"info"});
    EXPECT_NE(info_text.out.find("GAP: 1 segments missing: " + hole), std::string::npos)
        << info_text.out;
    auto gap_check =
        Vault({"check", "--pg-host", "127.0.0.1", "--pg-port", std::to_string(src->port())});
    EXPECT_EQ(gap_check.exit_code, 5);
    EXPECT_NE(
        gap_check.err.find("error: archived WAL has 1 missing segments, the first '" + hole + "'"),
        std::string::npos)
        << gap_check.err;
  }
  std::filesystem::rename(work_.Sub("hole"), hole_path);
}

}  // namespace
}  // namespace pgvault::test

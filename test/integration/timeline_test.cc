// Timelines: PITR to an early mark and promote; the new timeline archives into the same
// repository; then PITR to a point on the new timeline and to one on the old, both exact. And a
// test restore (--start) neither archives into the source's repository nor, when told to, makes
// the next PITR follow its timeline without asking.
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

// pg_switch_wal() on a restored server, then waits (bounded) until its archiver reports it.
std::string SwitchAndWait(Restored& db) {
  std::string seg = db.Scalar("SELECT pg_walfile_name(pg_switch_wal())");
  for (int poll_idx = 0; poll_idx < 1200; ++poll_idx) {
    if (db.Scalar("SELECT coalesce(last_archived_wal, '') >= '" + seg +
                  "' FROM pg_stat_archiver") == "t")
      return seg;
    std::this_thread::sleep_for(100ms);
  }
  throw HarnessError("segment " + seg + " was not archived by the restored server");
}

class TimelineTest : public VaultTest {
 protected:
  TimelineTest() : VaultTest("timeline") {}

  // The repository, a source cluster archiving into it (pgbench tables and the marks table) and
  // a first backup of it.
  void CreateSourceWithBackup(std::unique_ptr<PgCluster>& src) {
    ASSERT_EQ(Vault({"repo-create"}).exit_code, 0);
    src = PgCluster::Create({.archive_command = ArchivePushCommand(repo_, key_)});
    src->RunPgbench({"-i", "-s", "1", "-q"});
    src->Exec(kCreateMarksTableSql);
    auto b1 = Backup(*src);
    ASSERT_EQ(b1.exit_code, 0) << b1.err;
  }
};

TEST_F(TimelineTest, NewTimelineArchivesAndBothTimelinesRestoreExactly) {
  std::unique_ptr<PgCluster> src;
  ASSERT_NO_FATAL_FAILURE(CreateSourceWithBackup(src));
  auto bench = src->StartPgbench({"-c", "2", "-T", "600", "-n"});
  std::vector<Mark> old_marks;
  for (int id = 1; id <= 3; ++id) {
    std::this_thread::sleep_for(2s);
    old_marks.push_back(RecordMark(*src, id));
  }
  bench->Signal(SIGTERM);
  bench->Wait();
  src->SwitchWalAndWaitArchived();

  // Probing for a timeline that does not exist: exit 1, nothing on stderr.
  auto probe = Vault({"archive-get", "00000007.history", work_.Sub("probe")});
  EXPECT_EQ(probe.exit_code, 1);
  EXPECT_EQ(probe.err, "");

  // 1. PITR to the first mark, promote: timeline 2, archiving into the same repository.
  TempDir branch_dir("branch");
  int branch_port = FreePort();
  auto r = RestoreAndStart(branch_dir.Sub("pgdata"), branch_port,
                           {"--target-time", old_marks[0].time, "--target-action", "promote",
                            "--archive-mode", "preserve"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("recovery promoted after"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", timeline 2"), std::string::npos) << r.out;
  Restored branch(branch_dir.Sub("pgdata"), branch_port);
  EXPECT_EQ(branch.Scalar(std::string("SELECT ") + kSumsSql), old_marks[0].sums);
  branch.Exec("UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 10 = 3");
  branch.Exec(
      "INSERT INTO pgbench_history SELECT 1, 1, aid, 7, now() FROM pgbench_accounts "
      "WHERE aid < 50");
  Mark new_mark = RecordMark(branch, 11, false);
  branch.Exec("UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid < 1000");
  std::string tl2_last = SwitchAndWait(branch);
  EXPECT_EQ(tl2_last.substr(0, 8), "00000002");
  branch.Stop();

  auto info = nlohmann::json::parse(Vault({"info", "--json"}).out);
  ASSERT_EQ(info["timelines"].size(), 2u) << info.dump(2);
  EXPECT_EQ(info["timelines"][1]["timeline"], 2);
  EXPECT_EQ(info["timelines"][1]["parent_timeline"], 1);
  EXPECT_EQ(info["timelines"][1]["last"], tl2_last);
  EXPECT_EQ(info["timelines"][0]["missing_segments"], 0);
  EXPECT_EQ(info["timelines"][1]["missing_segments"], 0);
  auto text = Vault({"info"}).out;
  EXPECT_NE(text.find("wal timeline 2 (from timeline 1 at "), std::string::npos) << text;

  {  // 2. a point on the new timeline (latest), from the timeline-1 backup
    TempDir dir("new-tl");
    int port = FreePort();
    auto rr = RestoreAndStart(
        dir.Sub("pgdata"), port,
        {"--target-xid", new_mark.xid, "--target-inclusive", "true", "--target-timeline", "latest",
         "--target-action", "promote", "--archive-mode", "off"});
    ASSERT_EQ(rr.exit_code, 0) << rr.out << rr.err;
    EXPECT_NE(rr.out.find("(newest backup on timeline 2)"), std::string::npos) << rr.out;
    Restored db(dir.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar(std::string("SELECT ") + kSumsSql), new_mark.sums);
    EXPECT_EQ(db.Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM marks"), "11");
  }
  {  // 3. a point on the old timeline, after the branch point
    TempDir dir("old-tl");
    int port = FreePort();
    auto rr = RestoreAndStart(dir.Sub("pgdata"), port,
                              {"--target-time", old_marks[2].time, "--target-timeline", "1",
                               "--target-action", "promote", "--archive-mode", "off"});
    ASSERT_EQ(rr.exit_code, 0) << rr.out << rr.err;
    Restored db(dir.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar(std::string("SELECT ") + kSumsSql), old_marks[2].sums);
    EXPECT_EQ(db.Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM marks"), "1,2");
  }
  // 4. The corruption matrix's history-file row: timeline 2's history object damaged in a copy
  // of the repository. verify fails naming it; info still answers; a PITR along timeline 2 is
  // refused before it writes anything (PostgreSQL would otherwise recover the wrong branch).
  const std::string history_key = "wal/00000002/00000002.history";
  ASSERT_TRUE(std::filesystem::exists(repo_ + "/" + history_key));
  const std::string segment_key = "wal/00000002/" + tl2_last;
  int damages = 0;
  for (std::string damage : {"flip_first", "flip_middle", "flip_last", "truncate_half",
                             "truncate_one", "delete", "older"}) {
    SCOPED_TRACE("history file: " + damage);
    TempDir scratch("history-" + damage);
    std::string copy = scratch.Sub("repo");
    CopyTree(repo_, copy);
    // "older": a WAL segment's object copied over it (the only other WAL kind here).
    DamageFile(copy + "/" + history_key, damage, copy + "/" + segment_key);
    auto v = VaultAt(copy, {"verify"});
    EXPECT_NE(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE((v.out + v.err).find("00000002.history"), std::string::npos) << v.out << v.err;
    auto i = VaultAt(copy, {"info"});
    EXPECT_EQ(i.exit_code, 0) << i.err;
    std::string target = scratch.Sub("pgdata");
    auto rr = VaultAt(copy, {"restore", "--pgdata", target, "--target-xid", new_mark.xid,
                             "--target-inclusive", "true", "--target-timeline", "latest"});
    EXPECT_NE(rr.exit_code, 0) << rr.out << rr.err;
    EXPECT_NE(rr.err.find("00000002.history"), std::string::npos) << rr.err;
    EXPECT_FALSE(std::filesystem::exists(target + "/global/pg_control")) << rr.out;
    ++damages;
  }
  ReportFigure("history_file_damages_detected", std::to_string(damages));
}

TEST_F(TimelineTest, TestRestoreDoesNotArchiveAndItsBranchIsNotFollowedWithoutAsking) {
  std::unique_ptr<PgCluster> src;
  ASSERT_NO_FATAL_FAILURE(CreateSourceWithBackup(src));
  Mark m1 = RecordMark(*src, 1, false);
  src->SwitchWalAndWaitArchived();
  auto restore_to = [&](const std::string& label, const Mark& mark,
                        std::vector<std::string> extra) {
    TempDir dir(label);
    int port = FreePort();
    std::vector<std::string> args = {"--target-time", mark.time, "--target-action", "promote"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = RestoreAndStart(dir.Sub("pgdata"), port, args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    if (r.exit_code != 0) return r;
    Restored db(dir.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar(std::string("SELECT ") + kSumsSql), mark.sums);
    r.out += "archive_mode=" + db.Scalar("SHOW archive_mode") + "\n";
    if (r.out.find("archive_mode=on") != std::string::npos) SwitchAndWait(db);
    return r;
  };

  // 1. A test restore to m1 with --start: promoted, and it does not archive.
  auto test1 = restore_to("test1", m1, {});
  EXPECT_NE(test1.out.find("archive_mode = off in the restored cluster: it does not archive into "
                           "this repository (--archive-mode preserve keeps the source's "
                           "archive_command)\n"),
            std::string::npos)
      << test1.out;
  EXPECT_NE(test1.out.find("archive_mode=off\n"), std::string::npos) << test1.out;

  // The source goes on past the branch point; a PITR to m2 on its timeline just works.
  src->Exec("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid < 100");
  Mark m2 = RecordMark(*src, 2, false);
  src->SwitchWalAndWaitArchived();
  EXPECT_EQ(nlohmann::json::parse(Vault({"info", "--json"}).out)["timelines"].size(), 1u);
  restore_to("pitr1", m2, {});

  // 2. A test restore told to archive (--archive-mode preserve) puts timeline 2 into the
  // repository. The next PITR to m2 is refused, naming the branch and how to choose.
  auto test2 = restore_to("test2", m1, {"--archive-mode", "preserve"});
  EXPECT_NE(test2.out.find("archive_mode=on\n"), std::string::npos) << test2.out;
  TempDir refused_dir("refused");
  auto refused = RestoreAndStart(refused_dir.Sub("pgdata"), FreePort(),
                                 {"--target-time", m2.time, "--target-action", "promote"});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("error: timeline 2 in the repository branched from timeline 1 at "),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("(PostgreSQL's reason: 'before "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("but timeline 1 goes on past that point to '00000001"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("probably an earlier restore that was promoted and archived into "
                             "this repository\nHINT: pass --target-timeline 1 to recover along "
                             "timeline 1, or --target-timeline latest to follow timeline 2; "
                             "nothing was written\n"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(refused_dir.Sub("pgdata")));
  // The hinted flag recovers m2 exactly.
  restore_to("pitr2", m2, {"--target-timeline", "1"});
}

}  // namespace
}  // namespace pgvault::test

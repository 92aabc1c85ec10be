// restore --delta against a real PostgreSQL 15: a pgbench cluster (scale 10, one tablespace) is
// backed up and restored to a mark; the copy then runs pgbench, drops a table and creates
// another; restore --delta from the same backup brings it back to the mark writing only what
// differs. A delta restore of an unchanged directory writes nothing, and one onto another
// cluster's data directory or a running server is refused with nothing changed.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "marks.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

// The figures of a delta restore's summary line.
struct DeltaFigures {
  uint64_t files = 0, unchanged = 0, rewritten = 0, removed = 0, written = 0;
};

DeltaFigures ParseDelta(const std::string& out) {
  std::smatch m;
  std::string line = LastLine(out);
  static const std::regex kLine(
      R"(complete: (\d+) files, .*; delta: (\d+) files unchanged, (\d+) rewritten, (\d+) removed, (\d+) bytes written$)");
  if (!std::regex_search(line, m, kLine)) {
    ADD_FAILURE() << "no delta figures in: " << line;
    return {};
  }
  return {std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]),
          std::stoull(m[5])};
}

class DeltaRestoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kKeyFile);
    tablespace_dir_ = new TempDir("tablespace");
    source_ = PgCluster::Create({.archive_command = repo_->ArchiveCommand()}).release();
    source_->RunPgbench({"-i", "-s", "10", "-q"});
    source_->Exec(fmt::format("CREATE TABLESPACE ts_delta LOCATION '{}'", tablespace_dir_->path()));
    source_->Exec(
        "CREATE TABLE in_tablespace(id int PRIMARY KEY, payload text) TABLESPACE ts_delta;"
        "INSERT INTO in_tablespace SELECT g, md5(g::text) FROM generate_series(1, 5000) g");
    source_->Exec(kCreateMarksTableSql);
    ProcessResult backup = repo_->Backup(*source_);
    if (backup.exit_code != 0) throw HarnessError("backup failed: " + backup.err);
    backup_id_ = BackupIdFromSummary(backup.out);
    mark_ = new Mark(RecordMark(*source_, 1, /*lock=*/false));
    source_->SwitchWalAndWaitArchived();
  }

  static void TearDownTestSuite() {
    delete source_;
    delete tablespace_dir_;
    delete mark_;
    delete repo_;
  }

  // restore of the suite's backup to the mark into pgdata; extra args appended.
  static ProcessResult Restore(const std::string& pgdata, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"restore",  "--pgdata",      pgdata,  "--backup",
                                     backup_id_, "--target-name", "mark1", "--target-action",
                                     "promote",  "--jobs",        "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return repo_->Run(args);
  }

  // Starts pgdata, waits for recovery to reach the mark and expects the mark's checksums.
  static void ExpectAtMark(const std::string& pgdata) {
    auto copy = PgCluster::Adopt(pgdata);
    copy->WaitForRecoveryEnd();
    EXPECT_EQ(copy->Scalar(std::string("SELECT ") + kSumsSql), mark_->sums);
    EXPECT_EQ(copy->Scalar("SELECT count(*) FROM in_tablespace"), "5000");
    EXPECT_EQ(copy->Scalar("SELECT count(*) FROM pg_class WHERE relname = 'not_in_backup'"), "0");
    copy->Stop();
  }

  static TestRepo* repo_;
  static TempDir* tablespace_dir_;
  static PgCluster* source_;
  static std::string backup_id_;
  static Mark* mark_;
};

TestRepo* DeltaRestoreTest::repo_ = nullptr;
TempDir* DeltaRestoreTest::tablespace_dir_ = nullptr;
PgCluster* DeltaRestoreTest::source_ = nullptr;
std::string DeltaRestoreTest::backup_id_;
Mark* DeltaRestoreTest::mark_ = nullptr;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(DeltaRestoreTest, DeltaRestoreOfAChangedCopyWritesOnlyWhatDiffers) {
  TempDir target("delta");
  std::string pgdata = target.Sub("pgdata");
  std::string tablespace = target.Sub("tablespace");
  std::string ts_map = source_->Scalar("SELECT oid FROM pg_tablespace WHERE spcname = 'ts_delta'") +
                       "=" + tablespace;
  auto t0 = std::chrono::steady_clock::now();
  ProcessResult full = Restore(pgdata, {"--tablespace-map", ts_map});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  double full_seconds = Seconds(t0);
  ReportFigure("full restore", LastLine(full.out));

  {  // The copy runs: pgbench, a dropped table, a new one, then a clean stop.
    auto copy = PgCluster::Adopt(pgdata);
    copy->WaitForRecoveryEnd();
    EXPECT_EQ(copy->Scalar(std::string("SELECT ") + kSumsSql), mark_->sums);
    copy->RunPgbench({"-c", "2", "-t", "300"});
    copy->Exec("DROP TABLE pgbench_tellers");
    copy->Exec("CREATE TABLE not_in_backup AS SELECT g FROM generate_series(1, 100000) g");
    copy->Exec("INSERT INTO in_tablespace VALUES (5001, 'changed')");
    copy->Stop();
  }
  // Without --delta a non-empty directory is still refused.
  ProcessResult plain = Restore(pgdata, {"--tablespace-map", ts_map});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("is not empty"), std::string::npos) << plain.err;

  t0 = std::chrono::steady_clock::now();
  ProcessResult delta = Restore(pgdata, {"--tablespace-map", ts_map, "--delta"});
  ASSERT_EQ(delta.exit_code, 0) << delta.err;
  double delta_seconds = Seconds(t0);
  ReportFigure("delta restore after pgbench", LastLine(delta.out));
  ReportFigure("seconds full / delta", fmt::format("{:.2f} / {:.2f}", full_seconds, delta_seconds));
  DeltaFigures changed = ParseDelta(delta.out);
  EXPECT_GT(changed.rewritten, 0u);
  EXPECT_LT(changed.rewritten * 5, changed.files) << "more than a fifth of the files rewritten";
  EXPECT_GT(changed.removed, 0u) << "not_in_backup's files and the WAL should have gone";
  EXPECT_GT(changed.written, 0u);
  EXPECT_FALSE(fs::exists(pgdata + "/PGVAULT_RESTORE_INCOMPLETE"));
  EXPECT_FALSE(fs::exists(tablespace + "/PGVAULT_RESTORE_INCOMPLETE"));

  // The directory now holds the backup: a second delta restore finds every file equal.
  ProcessResult again = Restore(pgdata, {"--tablespace-map", ts_map, "--delta"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ReportFigure("delta restore of an unchanged directory", LastLine(again.out));
  DeltaFigures same = ParseDelta(again.out);
  EXPECT_EQ(same.written, 0u);
  EXPECT_EQ(same.rewritten, 0u);
  EXPECT_EQ(same.removed, 0u);
  EXPECT_EQ(same.unchanged + 2, same.files) << "all but pg_control and postgresql.auto.conf";

  // --delta-by-time trusts them all without reading.
  ProcessResult by_time = Restore(pgdata, {"--tablespace-map", ts_map, "--delta-by-time"});
  ASSERT_EQ(by_time.exit_code, 0) << by_time.err;
  ReportFigure("delta-by-time restore of an unchanged directory", LastLine(by_time.out));
  EXPECT_EQ(ParseDelta(by_time.out).written, 0u);

  ExpectAtMark(pgdata);
}

// kill -9 during a delta restore: the directory is visibly incomplete (marker, no pg_control,
// so PostgreSQL cannot start it), a plain restore refuses it, and --delta resumes it.
TEST_F(DeltaRestoreTest, KilledDeltaRestoreIsIncompleteAndDeltaResumesIt) {
  TempDir target("killed");
  std::string pgdata = target.Sub("pgdata");
  std::string ts_map = source_->Scalar("SELECT oid FROM pg_tablespace WHERE spcname = 'ts_delta'") +
                       "=" + target.Sub("tablespace");
  ProcessResult full = Restore(pgdata, {"--tablespace-map", ts_map});
  ASSERT_EQ(full.exit_code, 0) << full.err;

  std::vector<std::string> args = repo_->Flags();
  args.insert(args.end(),
              {"restore", "--pgdata", pgdata, "--backup", backup_id_, "--target-name", "mark1",
               "--target-action", "promote", "--jobs", "1", "--delta", "--tablespace-map", ts_map});
  auto delta = StartPgvault(args, repo_->env());
  std::string marker = pgdata + "/PGVAULT_RESTORE_INCOMPLETE";
  while (delta->Running() && !(fs::exists(marker) && !fs::exists(pgdata + "/global/pg_control")))
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  ASSERT_TRUE(delta->Running()) << "the delta restore ended before it could be killed";
  delta->Signal(SIGKILL);
  EXPECT_EQ(delta->Wait().exit_code, -SIGKILL);
  EXPECT_TRUE(fs::exists(marker));
  EXPECT_FALSE(fs::exists(pgdata + "/global/pg_control"));

  ProcessResult plain = Restore(pgdata, {"--tablespace-map", ts_map});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("holds an incomplete restore of backup " + backup_id_),
            std::string::npos)
      << plain.err;
  ProcessResult resumed = Restore(pgdata, {"--tablespace-map", ts_map, "--delta"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  ReportFigure("delta restore resuming a killed one", LastLine(resumed.out));
  EXPECT_FALSE(fs::exists(marker));
  ExpectAtMark(pgdata);
}

TEST_F(DeltaRestoreTest, AnotherClusterOrARunningServerIsRefusedAndNothingChanges) {
  auto other = PgCluster::Create();
  other->Stop();
  auto before = TreeSnapshot(other->pgdata());
  ProcessResult r = Restore(other->pgdata(), {"--delta"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.starts_with(
      fmt::format("error: '{}' holds another cluster (system identifier ", other->pgdata())))
      << r.err;
  EXPECT_NE(r.err.find("HINT: restore --delta works on a data directory of the backed-up cluster "
                       "only; restore into an empty directory instead; nothing was changed"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(TreeSnapshot(other->pgdata()), before);

  // A tablespace mapped onto a directory that holds something else.
  TempDir elsewhere("elsewhere");
  WriteFile(elsewhere.Sub("precious.txt"), "do not touch\n");
  auto elsewhere_before = TreeSnapshot(elsewhere.path());
  std::string oid = source_->Scalar("SELECT oid FROM pg_tablespace WHERE spcname = 'ts_delta'");
  ProcessResult ts = Restore(elsewhere.Sub("pgdata"),
                             {"--delta", "--tablespace-map", oid + "=" + elsewhere.path()});
  EXPECT_EQ(ts.exit_code, 2) << ts.err;
  EXPECT_NE(ts.err.find(fmt::format("tablespace directory '{}' holds 'precious.txt', which is not "
                                    "PostgreSQL's",
                                    elsewhere.path())),
            std::string::npos)
      << ts.err;
  EXPECT_EQ(TreeSnapshot(elsewhere.path()), elsewhere_before);

  // The source itself runs: its own cluster, but refused.
  ProcessResult running = Restore(source_->pgdata(), {"--delta"});
  EXPECT_EQ(running.exit_code, 9) << running.err;
  EXPECT_TRUE(running.err.starts_with(fmt::format(
      "error: PostgreSQL is running on '{}' (postmaster.pid names process ", source_->pgdata())))
      << running.err;
  EXPECT_FALSE(fs::exists(source_->pgdata() + "/PGVAULT_RESTORE_INCOMPLETE"));
  EXPECT_EQ(source_->Scalar("SELECT count(*) FROM pgbench_branches"), "10");
}

}  // namespace
}  // namespace pgvault::test

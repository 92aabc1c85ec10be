// pgvault drill (issue 11): a backup restored into a scratch cluster, started, checked and
// recorded in the catalog with its measured RTO; verify's results recorded too.
//
// One source cluster with foreign keys (subjects / exams / questions / users) archiving into one
// unencrypted repository with one backup, then a restore point 'drill_mark' between two rows,
// serves the suite.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kSchemaSql[] = R"(
CREATE TABLE subjects(id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE exams(id int PRIMARY KEY, subject_id int NOT NULL REFERENCES subjects(id),
                   title text);
CREATE TABLE questions(id int PRIMARY KEY, exam_id int REFERENCES exams(id), body text);
CREATE TABLE users(id int PRIMARY KEY, name text UNIQUE);
INSERT INTO subjects SELECT g, 'subject ' || g FROM generate_series(1, 60) g;
INSERT INTO exams SELECT g, 1 + g % 60, 'exam ' || g FROM generate_series(1, 120) g;
INSERT INTO questions SELECT g, 1 + g % 120, repeat('q', 200) FROM generate_series(1, 5000) g;
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 3) g;
)";

class DrillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kNone);
    source_ = PgCluster::Create({.archive_command = repo_->ArchiveCommand(), .env = repo_->env()})
                  .release();
    source_->Exec(kSchemaSql);
    ProcessResult backup = repo_->Backup(*source_);
    if (backup.exit_code != 0) throw HarnessError("the suite's backup failed: " + backup.err);
    backup_id_ = BackupIdFromSummary(backup.out);
    source_->Exec("INSERT INTO subjects VALUES (1001, 'marked')");
    source_->Exec("SELECT pg_create_restore_point('drill_mark')");
    source_->Exec("INSERT INTO subjects VALUES (1002, 'after the mark')");
    source_->SwitchWalAndWaitArchived();
  }
  static void TearDownTestSuite() {
    delete source_;
    delete repo_;
  }

  // A checks file in the test's scratch directory, readable by postgres.
  std::string ChecksFile(const std::string& toml) {
    std::string path = scratch_.Sub("checks.toml");
    WriteFile(path, toml);
    return path;
  }

  // One [[check]] of a checks file: `sql` must return `expect` (a TOML value: 61, ">= 50").
  static std::string SqlCheck(const std::string& name, const std::string& sql,
                              const std::string& expect) {
    return fmt::format("[[check]]\nname = \"{}\"\nsql = \"{}\"\nexpect = {}\n\n", name, sql,
                       expect);
  }

  // The check named `name` in a drill --json result; null when absent.
  static json Check(const json& drill, const std::string& name) {
    for (const auto& c : drill["drill"]["checks"])
      if (c["name"] == name) return c;
    return nullptr;
  }

  static TestRepo* repo_;
  static PgCluster* source_;
  static std::string backup_id_;
  TempDir scratch_{"drill-test"};
};

TestRepo* DrillTest::repo_ = nullptr;
PgCluster* DrillTest::source_ = nullptr;
std::string DrillTest::backup_id_;

TEST_F(DrillTest, AGoodBackupPassesWithRowCountsForeignKeysAndRto) {
  std::string checks = ChecksFile(R"(
[[check]]
name = "enough subjects"
sql = "select count(*) from subjects"
expect = ">= 50"

[[check]]
name = "exam lookup"
sql = "select count(*) from questions q join exams e on e.id = q.exam_id where e.subject_id = 7"
max_ms = 5000
)");
  ProcessResult r = repo_->Run(
      {"drill", "--backup", backup_id_, "--target-immediate", "--checks", checks, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["backup_id"], backup_id_);
  EXPECT_EQ(d["drill"]["result"], "pass");
  EXPECT_EQ(Check(d, "rows postgres.public.subjects")["value"], "60");
  EXPECT_EQ(Check(d, "rows postgres.public.questions")["value"], "5000");
  EXPECT_EQ(Check(d, "rows postgres.public.users")["value"], "3");
  json fk = Check(d, "foreign key postgres.exams_subject_id_fkey on exams");
  ASSERT_FALSE(fk.is_null()) << d.dump(2);
  EXPECT_EQ(fk["value"], "0");
  EXPECT_EQ(fk["result"], "pass");
  EXPECT_EQ(Check(d, "foreign key postgres.questions_exam_id_fkey on questions")["value"], "0");
  EXPECT_EQ(Check(d, "connect postgres")["result"], "pass");
  EXPECT_EQ(Check(d, "enough subjects")["value"], "60");
  EXPECT_EQ(Check(d, "exam lookup")["result"], "pass");
  if (fs::exists("/usr/lib/postgresql/15/bin/pg_amcheck")) {
    EXPECT_EQ(Check(d, "amcheck heaps and btree indexes")["value"], "ok");
  }
  EXPECT_NE(Check(d, "roles")["value"].get<std::string>().find("postgres"), std::string::npos);
  double restore = d["drill"]["restore_seconds"], replay = d["drill"]["replay_seconds"];
  double checks_s = d["drill"]["checks_seconds"], rto = d["drill"]["rto_seconds"];
  EXPECT_GT(restore, 0);
  EXPECT_GT(replay, 0);
  EXPECT_DOUBLE_EQ(rto, restore + replay);
  EXPECT_FALSE(fs::exists(d["scratch"].get<std::string>())) << "the scratch directory is removed";
  ReportFigure("drill_restore_seconds", fmt::format("{:.2f}", restore));
  ReportFigure("drill_replay_seconds", fmt::format("{:.2f}", replay));
  ReportFigure("drill_checks_seconds", fmt::format("{:.2f}", checks_s));
  ReportFigure("drill_rto_seconds", fmt::format("{:.2f}", rto));

  // The text form lists the same checks and the time split.
  ProcessResult text = repo_->Run({"drill", "--backup", "latest", "--target-immediate"});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("ok   rows postgres.public.subjects: 60"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("RTO "), std::string::npos) << text.out;
  EXPECT_EQ(LastLine(text.out), "drill: PASSED");
}

TEST_F(DrillTest, AWrongExpectationFailsNamingTheCheckAndItsValue) {
  std::string checks =
      ChecksFile(SqlCheck("subjects count", "select count(*) from subjects", "61"));
  ProcessResult r =
      repo_->Run({"drill", "--backup", backup_id_, "--target-immediate", "--checks", checks});
  EXPECT_EQ(r.exit_code, kExitCheckFailed) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL subjects count: 60 (expected = 61)"), std::string::npos) << r.out;
  EXPECT_EQ(ErrorText(r.err),
            fmt::format("error: drill of backup '{}' failed: 'subjects count': 60\n"
                        "HINT: see the checks above; rerun with --keep to inspect the restored "
                        "cluster\n",
                        backup_id_));
}

TEST_F(DrillTest, AFlippedByteInAPackFailsTheDrillNamingThePack) {
  std::string repo = scratch_.Sub("repo");
  CopyTree(repo_->path(), repo);
  std::string pack;
  for (const auto& p : FilesUnder(repo, "packs/"))
    if (pack.empty() || fs::file_size(repo + "/" + p) > fs::file_size(repo + "/" + pack)) pack = p;
  ASSERT_FALSE(pack.empty());
  FlipByte(repo + "/" + pack, fs::file_size(repo + "/" + pack) / 3);
  ProcessResult r =
      RunPgvault({"--repo", repo, "drill", "--backup", backup_id_, "--target-immediate", "--json"});
  EXPECT_EQ(r.exit_code, kExitCheckFailed) << r.out << r.err;
  EXPECT_NE(r.err.find(fmt::format("failed: 'restore': ")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(fmt::format("of pack '{}'", pack)), std::string::npos) << r.err;
  json info = json::parse(RunPgvault({"--repo", repo, "info", "--json"}).out);
  EXPECT_EQ(info["backups"][0]["last_drill"]["result"], "fail");
  EXPECT_NE(info["backups"][0]["last_drill"]["failed"].get<std::string>().find(pack),
            std::string::npos);
}

TEST_F(DrillTest, APitrDrillToAMarkReportsTheMarksData) {
  std::string checks = ChecksFile(
      SqlCheck("the marked row", "select count(*) from subjects where name = 'marked'", "1") +
      SqlCheck("no row after the mark",
               "select count(*) from subjects where name = 'after the mark'", "0"));
  ProcessResult r =
      repo_->Run({"drill", "--target-name", "drill_mark", "--checks", checks, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["drill"]["target"], "restore point 'drill_mark'");
  EXPECT_EQ(Check(d, "rows postgres.public.subjects")["value"], "61");
  EXPECT_EQ(Check(d, "the marked row")["result"], "pass");
  EXPECT_EQ(Check(d, "no row after the mark")["result"], "pass");
  EXPECT_NE(Check(d, "recovery")["value"].get<std::string>().find("promoted at lsn"),
            std::string::npos);
  EXPECT_GT(d["drill"]["replay_seconds"].get<double>(), 0);
}

TEST_F(DrillTest, InfoShowsTheLastVerifyAndDrill) {
  ProcessResult v = repo_->Run({"verify", "--backup", "latest", "--sample", "50", "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  json verified = json::parse(v.out);
  EXPECT_EQ(verified["result"], "pass");
  EXPECT_EQ(verified["backups"][0]["backup_id"], backup_id_);
  EXPECT_EQ(verified["backups"][0]["sample_percent"], 50);
  ProcessResult d = repo_->Run({"drill", "--target-immediate"});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  json info = repo_->Info();
  const json& b = info["backups"][0];
  EXPECT_EQ(b["last_verify"]["result"], "pass");
  EXPECT_EQ(b["last_verify"]["sample_percent"], 50);
  EXPECT_GT(b["last_verify"]["bytes_read"].get<uint64_t>(), 0u);
  EXPECT_EQ(b["last_drill"]["result"], "pass");
  EXPECT_GT(b["last_drill"]["rto_seconds"].get<double>(), 0);
  ProcessResult text = repo_->Run({"info"});
  EXPECT_NE(text.out.find("  last verify: PASSED at "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  last drill: PASSED at "), std::string::npos) << text.out;
}

// kill -9 of a drill once its scratch server runs: no half record in the catalog (records are
// write-once objects), info and verify still work, and the next drill stops the orphaned scratch
// server and removes its directory before it runs, then passes and is recorded.
TEST_F(DrillTest, AKilledDrillLeavesNoHalfRecordAndTheNextCleansUpItsServer) {
  TempDir tmp("drill-tmp");
  Env env = repo_->env();
  env.push_back("TMPDIR=" + tmp.path());
  auto drill_records = [&] {
    size_t n = 0;
    for (const auto& f : FilesUnder(repo_->path(), "catalog/"))
      n += f.find("/drill.") != std::string::npos;
    return n;
  };
  size_t records_before = drill_records();
  std::vector<std::string> args = repo_->Flags();
  for (const char* a : {"drill", "--target-immediate", "--json"}) args.push_back(a);
  auto drill = StartPgvault(args, env);
  // Wait for the scratch server: pgvault-drill-*/pgdata/postmaster.pid with a live pid.
  long orphan = 0;
  std::string scratch;
  for (int i = 0; i < 600 && orphan == 0 && drill->Running(); ++i) {
    for (const auto& e : fs::directory_iterator(tmp.path())) {
      std::ifstream pid_file(e.path() / "pgdata" / "postmaster.pid");
      long pid = 0;
      if (pid_file >> pid && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0) {
        orphan = pid;
        scratch = e.path().string();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(orphan, 0) << "the drill's scratch server never started\n" << drill->StderrSoFar();
  drill->Signal(SIGKILL);
  EXPECT_EQ(drill->Wait().exit_code, -SIGKILL);
  EXPECT_EQ(::kill(static_cast<pid_t>(orphan), 0), 0) << "expected the scratch server orphaned";
  EXPECT_EQ(drill_records(), records_before) << "a killed drill left a record";
  EXPECT_NO_THROW(repo_->Info());
  ProcessResult verify = repo_->Run({"verify", "--backup", "latest"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;

  args = repo_->Flags();
  for (const char* a : {"drill", "--target-immediate"}) args.push_back(a);
  ProcessResult next = RunPgvault(args, env);
  EXPECT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_NE(next.err.find("cleaned up after a killed drill: '" + scratch + "'"), std::string::npos)
      << next.err;
  for (int i = 0; i < 100 && ::kill(static_cast<pid_t>(orphan), 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(::kill(static_cast<pid_t>(orphan), 0), 0) << "the orphaned scratch server still runs";
  EXPECT_FALSE(fs::exists(scratch));
  EXPECT_EQ(drill_records(), records_before + 1);
}

}  // namespace
}  // namespace pgvault::test

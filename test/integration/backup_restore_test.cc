// End to end against a real PostgreSQL 15: a pgbench cluster (scale 10) with a tablespace is
// backed up into encrypted, key-file and unencrypted repositories, restored into empty
// directories, started (replaying the archived WAL) and compared row for row with the source.
//
// One source cluster serves the suite; each test points archive_command at its own repository.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "common/file.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTables = {"pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                                          "pgbench_history",  "in_tablespace",    "marker"};

class BackupRestoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tablespace_dir_ = new TempDir("tablespace");
    // The server's environment unlocks passphrase repositories for archive_command.
    // Each test points archive_command at its own repository; until then WAL goes nowhere.
    source_ = PgCluster::Create({.archive_command = "/bin/true",
                                 .env = {std::string("PGVAULT_PASSPHRASE=") + kTestPassphrase}})
                  .release();
    source_->RunPgbench({"-i", "-s", "10", "-q"});
    source_->Exec(
        fmt::format("CREATE TABLESPACE ts_elsewhere LOCATION '{}'", tablespace_dir_->path()));
    source_->Exec(
        "CREATE TABLE in_tablespace(id int PRIMARY KEY, payload text) TABLESPACE ts_elsewhere;"
        "INSERT INTO in_tablespace SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, "
        "20000) g");
    source_->Exec("CREATE TABLE marker(id serial PRIMARY KEY, note text NOT NULL)");
    tablespace_oid_ =
        source_->Scalar("SELECT oid FROM pg_tablespace WHERE spcname = 'ts_elsewhere'");
  }

  static void TearDownTestSuite() {
    delete source_;
    delete tablespace_dir_;
  }

  void TearDown() override {
    // Whatever a test did, the source still answers and its data is intact.
    EXPECT_EQ(source_->Scalar("SELECT count(*) FROM pgbench_branches"), "10");
  }

  // Points the source's archive_command at repo and makes sure the switch has taken effect:
  // the segment finished after the change is found in repo.
  static void ArchiveInto(const TestRepo& repo) {
    source_->SetArchiveCommand(repo.ArchiveCommand());
    for (int attempt = 0; attempt < 50; ++attempt) {
      source_->Exec("SELECT txid_current()");  // some WAL, so that there is a segment to switch
      std::string segment = source_->SwitchWalAndWaitArchived();
      if (fs::exists(fmt::format("{}/wal/{}/{}", repo.path(), segment.substr(0, 8), segment)))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "archive_command did not switch to " << repo.path();
  }

  // A backup of the source into repo, which must succeed: its id ("" when it failed). With a
  // figure name, its summary line is reported under that name.
  static std::string BackupInto(const TestRepo& repo, const char* figure = nullptr) {
    ProcessResult backup = repo.Backup(*source_);
    EXPECT_EQ(backup.exit_code, 0) << backup.err;
    if (backup.exit_code != 0) return "";
    if (figure) ReportFigure(figure, LastLine(backup.out));
    return BackupIdFromSummary(backup.out);
  }

  // Adds a marker row, makes sure its WAL is archived and returns the source's table checksums.
  static std::map<std::string, std::string> MarkAndChecksum(const std::string& note) {
    source_->Exec(fmt::format("INSERT INTO marker(note) VALUES ('{}')", note));
    source_->SwitchWalAndWaitArchived();
    return TableChecksums(*source_, kTables);
  }

  // Restores a backup into a new directory with the tablespace mapped elsewhere, starts it with
  // server_env, waits for recovery to end and expects every table to equal expected. Then stops
  // the copy cleanly and expects pg_checksums to find no bad page.
  static void RestoreAndCompare(const TestRepo& repo, const std::string& backup_id,
                                const std::map<std::string, std::string>& expected,
                                const Env& server_env) {
    TempDir target("restore");
    std::string pgdata = target.Sub("pgdata");
    std::string mapped_tablespace = target.Sub("tablespace");
    ProcessResult restore =
        repo.Run({"restore", "--pgdata", pgdata, "--backup", backup_id, "--jobs", "2",
                  "--tablespace-map", tablespace_oid_ + "=" + mapped_tablespace});
    ASSERT_EQ(restore.exit_code, 0) << restore.err;
    EXPECT_TRUE(LastLine(restore.out).starts_with("restore of backup " + backup_id)) << restore.out;
    EXPECT_NE(LastLine(restore.out).find(" complete: "), std::string::npos) << restore.out;
    ReportFigure("restore", LastLine(restore.out));
    EXPECT_EQ(fs::read_symlink(pgdata + "/pg_tblspc/" + tablespace_oid_).string(),
              mapped_tablespace);
    EXPECT_TRUE(fs::exists(pgdata + "/recovery.signal"));

    auto restored = PgCluster::Adopt(pgdata, {.env = server_env});
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, kTables), expected);
    EXPECT_EQ(restored->Scalar("SELECT pg_tablespace_location(" + tablespace_oid_ + ")"),
              mapped_tablespace);
    EXPECT_EQ(restored->Scalar("SELECT count(*) FROM in_tablespace"), "20000");
    restored->Stop();

    ProcessResult check =
        RunAsPostgres({std::string(kPgBin) + "/pg_checksums", "--check", "-D", pgdata});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    EXPECT_NE(check.out.find("Bad checksums:  0\n"), std::string::npos) << check.out;
    size_t scanned = check.out.find("Blocks scanned:");
    if (scanned != std::string::npos)
      ReportFigure("pg_checksums",
                   check.out.substr(scanned, check.out.find('\n', scanned) - scanned));
  }

  static uint64_t BytesNew(const TestRepo& repo, const std::string& backup_id) {
    nlohmann::json info = repo.Info();
    for (const auto& b : info["backups"])
      if (b["id"] == backup_id) return b["bytes_new"].get<uint64_t>();
    ADD_FAILURE() << "info does not list backup " << backup_id;
    return 0;
  }

  static TempDir* tablespace_dir_;
  static PgCluster* source_;
  static std::string tablespace_oid_;
};

TempDir* BackupRestoreTest::tablespace_dir_ = nullptr;
PgCluster* BackupRestoreTest::source_ = nullptr;
std::string BackupRestoreTest::tablespace_oid_;

TEST_F(BackupRestoreTest, BackupWhilePgbenchWritesRestoresEveryRow) {
  TestRepo repo(RepoCipher::kPassphrase);
  ArchiveInto(repo);

  // pgbench writes before, during and after the backup.
  auto bench = source_->StartPgbench({"-c", "2", "-T", "600"});
  while (source_->Scalar("SELECT count(*) FROM pgbench_history") == "0")
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int64_t history_before = std::stoll(source_->Scalar("SELECT count(*) FROM pgbench_history"));
  // Around the page cache (common/direct_io.h): O_DIRECT reads of pages pgbench is writing
  // through the cache at that moment must still give a restorable backup.
  ProcessResult backup = repo.Backup(*source_, {"--jobs", "2", "--direct-io", "on", "--stats"});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  std::string backup_id = BackupIdFromSummary(backup.out);
  ASSERT_FALSE(backup_id.empty()) << backup.out;
  ReportFigure("backup while pgbench writes", LastLine(backup.out));
  // Unless the file system refuses O_DIRECT (the reads then go through the cache, correctly).
  if (UniqueFd probe(::open((source_->pgdata() + "/PG_VERSION").c_str(), O_RDONLY | O_DIRECT));
      probe) {
    EXPECT_EQ(backup.out.find("; 0.00 GB read around the page cache"), std::string::npos)
        << backup.out;
  }
  int64_t history_after = std::stoll(source_->Scalar("SELECT count(*) FROM pgbench_history"));
  EXPECT_TRUE(bench->Running()) << bench->StderrSoFar();
  EXPECT_GT(history_after, history_before) << "pgbench did not write during the backup";
  ReportFigure("pgbench transactions during the backup",
               std::to_string(history_after - history_before));

  // After the backup: a marker row, archived; then pgbench stops and the source's content is
  // recorded once everything it committed is archived too.
  source_->Exec("INSERT INTO marker(note) VALUES ('written after backup " + backup_id + "')");
  source_->SwitchWalAndWaitArchived();
  bench->Signal(SIGINT);
  bench->Wait();
  source_->WaitForNoOtherSessions();
  auto expected = MarkAndChecksum("final state");
  ReportFigure("pgbench_history rows at the end",
               source_->Scalar("SELECT count(*) FROM pgbench_history"));

  nlohmann::json info = repo.Info();
  EXPECT_EQ(info["cipher"], "aes-256-gcm");
  ASSERT_EQ(info["backups"].size(), 1u);
  EXPECT_EQ(info["backups"][0]["id"], backup_id);
  EXPECT_EQ(info["backups"][0]["timeline"], 1);
  ReportFigure("backup bytes_read", info["backups"][0]["bytes_read"].dump());
  ReportFigure("backup bytes_new (stored)", info["backups"][0]["bytes_new"].dump());

  RestoreAndCompare(repo, backup_id, expected, repo.env());
}

TEST_F(BackupRestoreTest, SecondBackupAfterASmallChangeStoresFarFewerBytes) {
  TestRepo repo(RepoCipher::kPassphrase);
  ArchiveInto(repo);
  std::string first_id = BackupInto(repo, "first backup");
  ASSERT_FALSE(first_id.empty());

  source_->Exec("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 4242");
  source_->Exec("INSERT INTO marker(note) VALUES ('the small change')");
  std::string second_id = BackupInto(repo, "second backup");
  ASSERT_FALSE(second_id.empty());
  ASSERT_NE(first_id, second_id);

  uint64_t first_new = BytesNew(repo, first_id);
  uint64_t second_new = BytesNew(repo, second_id);
  ReportFigure("first backup bytes_new", std::to_string(first_new));
  ReportFigure("second backup bytes_new", std::to_string(second_new));
  EXPECT_GT(first_new, 0u);
  EXPECT_LT(second_new * 10, first_new) << "the second backup stored more than a tenth";

  // The second backup restores on its own, including the change.
  auto expected = MarkAndChecksum("after the second backup");
  RestoreAndCompare(repo, second_id, expected, repo.env());
}

// Files unchanged since the parent backup read them (same size and mtime, mtime more than a
// second before the parent started) are not read again; the backup still restores exactly, and
// --full-scan reads everything.
TEST_F(BackupRestoreTest, ANextBackupReadsOnlyFilesThatChangedAndStillRestoresExactly) {
  TestRepo repo(RepoCipher::kPassphrase);
  ArchiveInto(repo);
  auto stats = [&](const ProcessResult& backup) {
    std::string id = BackupIdFromSummary(backup.out);
    nlohmann::json info = repo.Info();
    for (const auto& b : info["backups"])
      if (b["id"] == id) return nlohmann::json(b);
    ADD_FAILURE() << "info does not list backup " << id;
    return nlohmann::json::object();
  };
  // The first backup's checkpoint writes what the suite's setup left dirty: those files are
  // newer than the first backup's start, so only a third backup can take them unread.
  ProcessResult first = repo.Backup(*source_);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ProcessResult second = repo.Backup(*source_);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  source_->Exec("UPDATE pgbench_branches SET bbalance = bbalance + 7 WHERE bid = 3");
  source_->Exec("INSERT INTO marker(note) VALUES ('before the third backup')");
  ProcessResult third = repo.Backup(*source_);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  ReportFigure("first backup", LastLine(first.out));
  ReportFigure("third backup", LastLine(third.out));

  nlohmann::json full = stats(first), next = stats(third);
  uint64_t files = next["files"], unchanged = next["files_unchanged"];
  uint64_t read_full = full["bytes_read"], read_next = next["bytes_read"];
  EXPECT_EQ(full["files_unchanged"], 0u);
  EXPECT_GT(unchanged * 10, files * 9) << "fewer than 90% of the files were taken unread";
  EXPECT_LT(read_next * 10, read_full) << "the third backup read more than a tenth";
  // Unchanged and read bytes together are the whole cluster again (give or take what grew).
  uint64_t covered = next["bytes_unchanged"].get<uint64_t>() + read_next;
  EXPECT_GT(covered * 10, read_full * 9);
  EXPECT_LT(covered * 10, read_full * 11);

  auto expected = MarkAndChecksum("after the third backup");
  RestoreAndCompare(repo, BackupIdFromSummary(third.out), expected, repo.env());

  ProcessResult scan = repo.Backup(*source_, {"--full-scan"});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  nlohmann::json scanned = stats(scan);
  EXPECT_EQ(scanned["files_unchanged"], 0u);
  EXPECT_GT(scanned["bytes_read"].get<uint64_t>() * 10, read_full * 9);
}

TEST_F(BackupRestoreTest, KeyFileRepositoryRestoresWithoutAPassphrase) {
  TestRepo repo(RepoCipher::kKeyFile);
  ArchiveInto(repo);
  std::string backup_id = BackupInto(repo);
  ASSERT_FALSE(backup_id.empty());
  EXPECT_EQ(repo.Info()["cipher"], "aes-256-gcm");

  // Without the key file the repository stays shut.
  ProcessResult no_key = RunPgvault({"--repo", repo.path(), "info"});
  EXPECT_EQ(no_key.exit_code, 3) << no_key.err;
  EXPECT_TRUE(no_key.err.starts_with(fmt::format(
      "error: repository '{}' is encrypted and no passphrase or key file was given", repo.path())))
      << no_key.err;

  // Global flags may follow the command.
  ProcessResult flags_after =
      RunPgvault({"info", "--json", "--repo", repo.path(), "--key-file", repo.key_file()});
  EXPECT_EQ(flags_after.exit_code, 0) << flags_after.err;
  EXPECT_NE(flags_after.out.find(backup_id), std::string::npos) << flags_after.out;

  // restore_command names the key file, so the restored server needs no secret in its
  // environment.
  auto expected = MarkAndChecksum("key-file repository");
  RestoreAndCompare(repo, backup_id, expected, /*server_env=*/{});
}

TEST_F(BackupRestoreTest, UnencryptedRepositoryRestoresExactly) {
  TestRepo repo(RepoCipher::kNone);
  ArchiveInto(repo);
  // This time over the unix socket, with the repository named by PGVAULT_REPO.
  ProcessResult backup =
      RunPgvault({"backup", "--pgdata", source_->pgdata(), "--pg-host", source_->socket_dir(),
                  "--pg-port", std::to_string(source_->port())},
                 {"PGVAULT_REPO=" + repo.path()});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  std::string backup_id = BackupIdFromSummary(backup.out);
  nlohmann::json info = repo.Info();
  EXPECT_EQ(info["cipher"], "none");
  ASSERT_EQ(info["backups"].size(), 1u);
  EXPECT_EQ(info["backups"][0]["tablespaces"].size(), 1u) << info["backups"][0].dump();

  auto expected = MarkAndChecksum("unencrypted repository");
  RestoreAndCompare(repo, backup_id, expected, /*server_env=*/{});
}

}  // namespace
}  // namespace pgvault::test

// Bad input against a real PostgreSQL 15 and a real repository: every mistake gets one clear
// "error: ..." line, a non-zero exit code from the documented table, and changes nothing: the
// repository's files are byte for byte the same and the source cluster keeps working.
//
// One small source cluster (pgbench scale 1) archiving into one encrypted repository with one
// backup serves the suite.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "suite_source.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

// Flips the middle byte of the largest pack under repo_dir; returns its key ("packs/..").
std::string FlipByteOfLargestPack(const std::string& repo_dir) {
  std::vector<std::string> packs = FilesUnder(repo_dir, "packs/");
  if (packs.empty()) throw HarnessError("no pack under " + repo_dir);
  std::string largest = packs[0];
  for (const auto& pack : packs)
    if (fs::file_size(repo_dir + "/" + pack) > fs::file_size(repo_dir + "/" + largest))
      largest = pack;
  FlipByte(repo_dir + "/" + largest, fs::file_size(repo_dir + "/" + largest) / 2);
  return largest;
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kPassphrase);
    source_ = NewArchivingSource(*repo_);
    ProcessResult backup = SuiteBackup(*repo_, *source_);
    backup_id_ = BackupIdFromSummary(backup.out);
    source_->SwitchWalAndWaitArchived();
  }

  static void TearDownTestSuite() {
    delete source_;
    delete repo_;
  }

  void SetUp() override { repo_before_ = TreeSnapshot(repo_->path()); }

  // A repository's snapshot without its catalog records, which verify and drill add (write-once)
  // by design.
  static std::map<std::string, std::string> WithoutCatalog(std::map<std::string, std::string> s) {
    std::erase_if(s, [](const auto& e) { return e.first.starts_with("catalog"); });
    return s;
  }

  void TearDown() override {
    EXPECT_EQ(WithoutCatalog(TreeSnapshot(repo_->path())), WithoutCatalog(repo_before_))
        << "the repository changed";
    EXPECT_EQ(source_->Scalar("SELECT count(*) FROM pgbench_accounts"), "100000");
    EXPECT_EQ(repo_->Info()["backups"].size(), 1u);
  }

  // The archived WAL segment with the lowest name.
  static std::string FirstArchivedSegment() {
    return repo_->Info()["wal"][0]["first"].get<std::string>();
  }

  static TestRepo* repo_;
  static PgCluster* source_;
  static std::string backup_id_;
  std::map<std::string, std::string> repo_before_;
};

TestRepo* BadInputTest::repo_ = nullptr;
PgCluster* BadInputTest::source_ = nullptr;
std::string BadInputTest::backup_id_;

TEST_F(BadInputTest, BackupIntoAPathWithoutRepository) {
  TempDir scratch("norepo");
  std::string nowhere = scratch.Sub("never-created");
  ProcessResult r =
      RunPgvault({"--repo", nowhere, "backup", "--pgdata", source_->pgdata(), "--pg-host",
                  "127.0.0.1", "--pg-port", std::to_string(source_->port())},
                 repo_->env());
  EXPECT_EQ(r.exit_code, kExitConfig);
  EXPECT_EQ(r.err, fmt::format("error: no pgvault repository at '{}'\n"
                               "HINT: create one with: pgvault --repo {} repo-create\n",
                               nowhere, nowhere));
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(nowhere));
  EXPECT_EQ(source_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'pgvault'"),
            "0");
}

TEST_F(BadInputTest, RepoCreateRefusesAnExistingRepository) {
  ProcessResult r = repo_->Run({"repo-create"});
  EXPECT_EQ(r.exit_code, kExitConflict);
  EXPECT_TRUE(r.err.starts_with(
      fmt::format("error: a pgvault repository already exists at '{}'", repo_->path())))
      << r.err;
}

TEST_F(BadInputTest, WrongPassphraseOpensNothing) {
  Env wrong = {"PGVAULT_PASSPHRASE=not the passphrase"};
  std::string expected =
      fmt::format("error: wrong passphrase or key file for repository '{}'", repo_->path());
  ProcessResult info = repo_->Run({"info"}, wrong);
  EXPECT_EQ(info.exit_code, kExitCrypto);
  EXPECT_TRUE(info.err.starts_with(expected)) << info.err;
  EXPECT_EQ(info.out, "");

  ProcessResult backup =
      RunPgvault({"--repo", repo_->path(), "backup", "--pgdata", source_->pgdata(), "--pg-host",
                  "127.0.0.1", "--pg-port", std::to_string(source_->port())},
                 wrong);
  EXPECT_EQ(backup.exit_code, kExitCrypto);
  EXPECT_TRUE(backup.err.starts_with(expected)) << backup.err;

  TempDir target("wrongpass");
  ProcessResult restore =
      RunPgvault({"--repo", repo_->path(), "restore", "--pgdata", target.Sub("pgdata")}, wrong);
  EXPECT_EQ(restore.exit_code, kExitCrypto);
  EXPECT_TRUE(ErrorText(restore.err).starts_with(expected)) << restore.err;
  EXPECT_FALSE(fs::exists(target.Sub("pgdata")));
}

TEST_F(BadInputTest, PgdataThatIsNotACluster) {
  TempDir empty("notpgdata");
  ProcessResult r = repo_->Run({"backup", "--pgdata", empty.path(), "--pg-host", "127.0.0.1",
                                "--pg-port", std::to_string(source_->port())});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument);
  EXPECT_EQ(r.err, fmt::format("error: '{}' is not a PostgreSQL data directory (no 'PG_VERSION')\n"
                               "HINT: pass the cluster's data directory with --pgdata\n",
                               empty.path()));
  EXPECT_TRUE(fs::is_empty(empty.path()));
}

TEST_F(BadInputTest, PgdataOfAnotherServer) {
  // A real data directory, but the server on that port runs a different one.
  TempDir scratch("otherpgdata");
  std::string copy = scratch.Sub("copy");
  fs::create_directory(copy);
  WriteFile(copy + "/PG_VERSION", "15\n");
  fs::create_directory(copy + "/global");
  WriteFile(copy + "/global/pg_control", ReadFile(source_->pgdata() + "/global/pg_control"));
  ProcessResult r = repo_->Run({"backup", "--pgdata", copy, "--pg-host", "127.0.0.1", "--pg-port",
                                std::to_string(source_->port())});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument);
  EXPECT_NE(r.err.find(fmt::format("runs data directory '{}', not '{}'", source_->pgdata(), copy)),
            std::string::npos)
      << r.err;
}

TEST_F(BadInputTest, ASecondClusterIsRefusedForBackupAndArchivePush) {
  // Another cluster (its own system identifier) pointed at this repository by mistake: neither
  // its backup nor its WAL gets in, so its WAL can never be mixed into a restore of the first.
  auto other = PgCluster::Create({.archive_command = "/bin/true"});
  std::string other_id = other->Scalar("SELECT system_identifier FROM pg_control_system()");
  std::string expected = fmt::format("belongs to PostgreSQL system {}, not {}",
                                     source_->Scalar("SELECT system_identifier FROM "
                                                     "pg_control_system()"),
                                     other_id);
  ProcessResult backup = repo_->Backup(*other);
  EXPECT_EQ(backup.exit_code, kExitConflict) << backup.err;
  EXPECT_NE(backup.err.find(expected), std::string::npos) << backup.err;
  EXPECT_NE(backup.err.find("HINT: use a separate repository for each cluster"), std::string::npos);
  std::string segment = other->Scalar("SELECT pg_walfile_name(pg_current_wal_lsn())");
  other->Exec("SELECT pg_switch_wal()");
  ProcessResult push = repo_->Run({"archive-push", other->pgdata() + "/pg_wal/" + segment});
  EXPECT_EQ(push.exit_code, kExitConflict) << push.err;
  EXPECT_NE(push.err.find(expected), std::string::npos) << push.err;
  std::string text = ErrorText(push.err);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2)
      << "one error line and one hint: " << push.err;
}

TEST_F(BadInputTest, ClusterNotRunning) {
  source_->Stop();
  // With archiving on, a shutdown finishes the current segment and archives it: that is
  // PostgreSQL's doing, so compare with the repository as the shutdown left it.
  repo_before_ = TreeSnapshot(repo_->path());
  ProcessResult r = repo_->Backup(*source_);
  source_->Start();
  EXPECT_EQ(r.exit_code, kExitPg);
  EXPECT_TRUE(r.err.starts_with(
      fmt::format("error: cannot connect to PostgreSQL at '127.0.0.1:{}'", source_->port())))
      << r.err;
  EXPECT_NE(r.err.find("HINT: is the cluster running?"), std::string::npos) << r.err;
}

TEST_F(BadInputTest, ArchivePushOfAFileThatIsNotWal) {
  TempDir inputs("notwal");
  std::string notes = inputs.Sub("notes.txt");
  WriteFile(notes, "not WAL at all\n");
  ProcessResult by_name = repo_->Run({"archive-push", notes});
  EXPECT_EQ(by_name.exit_code, kExitInvalidArgument);
  EXPECT_TRUE(by_name.err.starts_with("error: 'notes.txt' is not a WAL file name\n"))
      << by_name.err;

  // A WAL file name on 16 MiB of something else.
  std::string fake = inputs.Sub("00000001000000AA000000BB");
  WriteFile(fake, std::string(16 << 20, 'x'));
  ProcessResult by_content = repo_->Run({"archive-push", fake});
  EXPECT_EQ(by_content.exit_code, kExitInvalidArgument);
  EXPECT_TRUE(
      by_content.err.starts_with(fmt::format("error: '{}' is not a PostgreSQL WAL segment", fake)))
      << by_content.err;

  ProcessResult missing = repo_->Run({"archive-push", inputs.Sub("000000010000000000000077")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_TRUE(missing.err.starts_with("error: ")) << missing.err;
}

TEST_F(BadInputTest, ArchivePushConflictChangesNothingWhileTheSameFileIsAccepted) {
  std::string segment = FirstArchivedSegment();
  TempDir inputs("conflict");
  std::string fetched = inputs.Sub(segment);
  ProcessResult get = repo_->Run({"archive-get", segment, fetched});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  ASSERT_EQ(fs::file_size(fetched), 16u << 20);

  ProcessResult same = repo_->Run({"archive-push", fetched});
  EXPECT_EQ(same.exit_code, 0) << same.err;

  FlipByte(fetched, 8 << 20);
  ProcessResult different = repo_->Run({"archive-push", fetched});
  EXPECT_EQ(different.exit_code, kExitConflict);
  EXPECT_TRUE(different.err.starts_with(fmt::format(
      "error: WAL file '{}' is already archived with different content; the repository was not "
      "changed\nHINT: ",
      segment)))
      << different.err;
}

TEST_F(BadInputTest, ArchiveGetOfAMissingSegmentIsQuiet) {
  TempDir inputs("archiveget");
  std::string dest = inputs.Sub("RECOVERYXLOG");
  ProcessResult r = repo_->Run({"archive-get", "0000000100000000000000EE", dest});
  EXPECT_EQ(r.exit_code, kExitNotFound);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "") << "PostgreSQL asks for missing segments routinely at the end of recovery";
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(BadInputTest, RestoreIntoANonEmptyDirectory) {
  TempDir target("nonempty");
  WriteFile(target.Sub("precious.txt"), "do not touch\n");
  auto before = TreeSnapshot(target.path());
  ProcessResult r = repo_->Run({"restore", "--pgdata", target.path()});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument);
  EXPECT_EQ(ErrorText(r.err),
            fmt::format("error: target directory '{}' is not empty\n"
                        "HINT: restore into an empty or new directory, or with --delta onto a "
                        "stopped data directory of the same cluster; nothing was written\n",
                        target.path()));
  EXPECT_EQ(TreeSnapshot(target.path()), before);
}

TEST_F(BadInputTest, RestoreOfAnUnknownBackup) {
  TempDir target("unknown");
  ProcessResult r =
      repo_->Run({"restore", "--pgdata", target.Sub("pgdata"), "--backup", "20000101-000000F"});
  EXPECT_EQ(r.exit_code, kExitNotFound);
  EXPECT_EQ(ErrorText(r.err), fmt::format("error: backup '20000101-000000F' is not in repository "
                                          "'{}'\nHINT: list backups with: pgvault info\n",
                                          repo_->path()));
  EXPECT_FALSE(fs::exists(target.Sub("pgdata")));
}

TEST_F(BadInputTest, FlippedByteInAPackFailsTheRestoreAndLeavesNothingStartable) {
  // Damage a copy, so that the suite's repository stays good.
  TempDir scratch("flipped");
  std::string damaged = scratch.Sub("repo");
  CopyTree(repo_->path(), damaged);
  std::string largest = FlipByteOfLargestPack(damaged);
  auto damaged_before = TreeSnapshot(damaged);

  std::string pgdata = scratch.Sub("pgdata");
  ProcessResult r = RunPgvault({"--repo", damaged, "restore", "--pgdata", pgdata}, repo_->env());
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.err;
  std::string error = ErrorText(r.err);
  EXPECT_TRUE(error.starts_with("error: restoring '")) << r.err;
  EXPECT_NE(error.find(fmt::format("pack '{}'", largest)), std::string::npos) << r.err;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_EQ(TreeSnapshot(damaged), damaged_before);

  // Nothing a server could start from: no pg_control, no recovery settings.
  EXPECT_FALSE(fs::exists(pgdata + "/global/pg_control"));
  EXPECT_FALSE(fs::exists(pgdata + "/backup_label"));
  EXPECT_FALSE(fs::exists(pgdata + "/recovery.signal"));
  if (fs::exists(pgdata)) {
    EXPECT_THROW(PgCluster::Adopt(pgdata), HarnessError);
  }
}

TEST_F(BadInputTest, RestoreIntoAPathThatCannotBeCreatedIsALocalIoError) {
  ProcessResult r = repo_->Run({"restore", "--pgdata", "/proc/1/x"});
  EXPECT_EQ(r.exit_code, kExitIo) << r.err;
  EXPECT_EQ(ErrorText(r.err),
            "error: cannot create directory '/proc/1/x': No such file or directory\n"
            "HINT: check the path: restore creates the directory and writes into it\n");
}

TEST_F(BadInputTest, RetryAfterAFailedRestoreSaysTheTargetHoldsAnIncompleteRestore) {
  TempDir scratch("retry");
  std::string damaged = scratch.Sub("repo");
  CopyTree(repo_->path(), damaged);
  FlipByteOfLargestPack(damaged);
  std::string pgdata = scratch.Sub("pgdata");
  ProcessResult failed =
      RunPgvault({"--repo", damaged, "restore", "--pgdata", pgdata}, repo_->env());
  ASSERT_EQ(failed.exit_code, kExitCorruption) << failed.err;
  ASSERT_TRUE(fs::exists(pgdata + "/PGVAULT_RESTORE_INCOMPLETE"));
  auto before = TreeSnapshot(pgdata);

  ProcessResult retry =
      RunPgvault({"--repo", damaged, "restore", "--pgdata", pgdata}, repo_->env());
  EXPECT_EQ(retry.exit_code, kExitInvalidArgument) << retry.err;
  std::string error = ErrorText(retry.err);
  std::string expected_start =
      fmt::format("error: target directory '{}' holds an incomplete restore of backup {} from ",
                  pgdata, backup_id_);
  EXPECT_TRUE(error.starts_with(expected_start)) << retry.err;
  EXPECT_NE(error.find(fmt::format("\nHINT: that restore failed or was interrupted (its "
                                   "'PGVAULT_RESTORE_INCOMPLETE' file is still there); remove the "
                                   "directory (rm -rf '{}') and run restore again, or resume "
                                   "it with restore --delta; nothing was written\n",
                                   pgdata)),
            std::string::npos)
      << retry.err;
  EXPECT_EQ(TreeSnapshot(pgdata), before);

  // A complete restore leaves no marker.
  TempDir good("complete");
  ProcessResult ok = repo_->Run({"restore", "--pgdata", good.Sub("pgdata")});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_FALSE(fs::exists(good.Sub("pgdata") + "/PGVAULT_RESTORE_INCOMPLETE"));
}

TEST_F(BadInputTest, VerifyReadsEveryBlockAndWalFileAndNamesTheDamage) {
  ProcessResult ok = repo_->Run({"verify"});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(fmt::format("backup {}: ", backup_id_)), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find(" verified\n"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("verify: OK (1 backup,"), std::string::npos) << ok.out;

  // Damage a copy: a byte of the largest pack, and a WAL segment that later ones follow.
  TempDir scratch("verify");
  std::string damaged = scratch.Sub("repo");
  CopyTree(repo_->path(), damaged);
  std::string largest = FlipByteOfLargestPack(damaged);
  // The segment the backup starts in (named by its .backup history file).
  std::string removed;
  for (const auto& f : FilesUnder(damaged, "wal/00000001/"))
    if (f.ends_with(".backup")) removed = f.substr(std::string("wal/00000001/").size(), 24);
  ASSERT_EQ(removed.size(), 24u);
  fs::remove(damaged + "/wal/00000001/" + removed);
  auto damaged_before = TreeSnapshot(damaged);
  // The copy holds the record of the verify above; this one adds its own.
  const std::string records = fmt::format("catalog/{}/verify.", backup_id_);
  size_t records_before = FilesUnder(damaged, records).size();

  ProcessResult r = RunPgvault({"--repo", damaged, "verify"}, repo_->env());
  EXPECT_EQ(r.exit_code, kExitCorruption) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("backup {}: ", backup_id_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" DAMAGED\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("pack '{}'", largest)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("WAL segment '{}' needed to make the backup consistent is "
                                   "missing from the repository",
                                   removed)),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(ErrorText(r.err).starts_with("error: verify found ")) << r.err;
  EXPECT_EQ(WithoutCatalog(TreeSnapshot(damaged)), WithoutCatalog(damaged_before))
      << "verify changes nothing but adding its record";
  EXPECT_EQ(FilesUnder(damaged, records).size(), records_before + 1);

  // One repository at a time: with a replica, damage could be read around.
  ProcessResult both = repo_->Run({"--repo2", damaged, "verify"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_TRUE(ErrorText(both.err).starts_with("error: verify checks one repository at a time\n"))
      << both.err;
}

}  // namespace
}  // namespace pgvault::test

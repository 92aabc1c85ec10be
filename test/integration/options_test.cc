// Options and configuration against the real binary: the option table's errors (unknown command,
// unknown option, option of another command, config file syntax and keys), the secret rules
// (key file mode, passphrase length, no secrets in the config file) and the restore_command that
// restore writes from the table's forwarded options, run as PostgreSQL would run it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "exit_codes.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

const char kCommands[] =
    "HINT: commands: repo-create, backup, restore, archive-push, archive-get, info, check, "
    "verify, key-add, repo-sync, expire, hold, drill, gc, catalog-export, daemon, wal-stream, "
    "version; see "
    "'pgvault --help'\n";

TEST(OptionsCliTest, UnknownCommandIsNamedAndTheCommandsListed) {
  ProcessResult r = RunPgvault({"frobnicate"});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument);
  EXPECT_EQ(r.err, std::string("error: unknown command 'frobnicate'\n") + kCommands);
  ProcessResult typo = RunPgvault({"--repo", "/nowhere", "restor"});
  EXPECT_EQ(typo.exit_code, kExitInvalidArgument);
  EXPECT_EQ(typo.err,
            std::string("error: unknown command 'restor', did you mean 'restore'?\n") + kCommands);
}

TEST(OptionsCliTest, UnknownOptionAndOptionOfAnotherCommand) {
  ProcessResult r = RunPgvault({"info", "--jsno"});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument);
  EXPECT_EQ(r.err,
            "error: unknown option '--jsno', did you mean '--json'?\n"
            "HINT: 'pgvault COMMAND --help' lists the options of a command\n");
  ProcessResult other = RunPgvault({"--repo", "/nowhere", "backup", "--target-time", "now"});
  EXPECT_EQ(other.exit_code, kExitInvalidArgument);
  EXPECT_EQ(
      other.err,
      "error: option '--target-time' is not accepted by command 'backup'\n"
      "HINT: --target-time is taken by: restore, drill; 'pgvault backup --help' lists the options "
      "of backup\n");
}

// Out-of-range and malformed values, for the commands that take them: one error line naming the
// option and the range, the command's help in the hint, exit 2, and nothing created.
TEST(OptionsCliTest, ValuesOutOfRangeAreRefusedNamingTheRange) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"backup", "--pgdata", "/nowhere", "--jobs", "0"},
       "error: invalid value '0' for --jobs: expected an integer from 1 to 256\n"},
      {{"backup", "--pgdata", "/nowhere", "--jobs", "100000"},
       "error: invalid value '100000' for --jobs: expected an integer from 1 to 256\n"},
      {{"restore", "--pgdata", "/nowhere/pgdata", "--jobs", "abc"},
       "error: invalid value 'abc' for --jobs: expected an integer from 1 to 256\n"},
      {{"verify", "--sample", "0"},
       "error: invalid value '0' for --sample: expected an integer from 1 to 100\n"},
      {{"expire", "--gc-grace", "-5"},
       "error: invalid value '-5' for --gc-grace: expected an integer from 0 to 864000\n"},
      {{"restore", "--pgdata", "/nowhere/pgdata", "--target-action", "explode"},
       "error: invalid value 'explode' for --target-action: expected one of: promote, pause, "
       "shutdown\n"},
  };
  for (const auto& [args, error] : cases) {
    std::vector<std::string> argv = {"--repo", "/nowhere"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunPgvault(argv);
    EXPECT_EQ(r.exit_code, kExitInvalidArgument) << args[0] << ": " << r.err;
    EXPECT_EQ(r.err, error + "HINT: see 'pgvault " + args[0] + " --help'\n");
  }
  EXPECT_FALSE(fs::exists("/nowhere"));
}

// A malformed recovery target is refused from the command line alone: before the repository is
// opened (here there is none), with the kind of value expected, for restore and drill alike.
TEST(OptionsCliTest, MalformedRecoveryTargetsAreRefusedBeforeTheRepositoryIsOpened) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--target-time", "yesterday-ish"}, "error: bad --target-time 'yesterday-ish'\n"},
      {{"--target-lsn", "0/ZZ"}, "error: bad --target-lsn '0/ZZ'\n"},
      {{"--target-xid", "12a"}, "error: bad --target-xid '12a'\n"},
      {{"--target-timeline", "two"}, "error: bad --target-timeline 'two'"},
      {{"--target-name", "p", "--target-inclusive", "true"},
       "error: --target-inclusive applies only to --target-time, --target-lsn and --target-xid\n"},
      {{"--target-xid", "5", "--target-lsn", "0/1"},
       "error: more than one recovery target given\n"},
  };
  for (const char* command : {"restore", "drill"}) {
    for (const auto& [flags, error] : cases) {
      std::vector<std::string> argv = {"--repo", "/nowhere", command, "--pgdata",
                                       "/nowhere/pgdata"};
      if (std::string(command) == "drill") argv = {"--repo", "/nowhere", command};
      argv.insert(argv.end(), flags.begin(), flags.end());
      ProcessResult r = RunPgvault(argv);
      EXPECT_EQ(r.exit_code, kExitInvalidArgument) << command << " " << flags[0] << ": " << r.err;
      EXPECT_TRUE(r.err.starts_with(error)) << command << " " << flags[0] << ": " << r.err;
      EXPECT_NE(r.err.find("\nHINT: "), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("no pgvault repository"), std::string::npos) << r.err;
    }
  }
  EXPECT_FALSE(fs::exists("/nowhere"));
}

// The user guide's option reference is the table's own output, so a default or range written in
// the guide cannot drift from the code (it said 64 KiB blocks when the code had 128).
TEST(OptionsCliTest, UserGuideOptionReferenceMatchesTheTable) {
  ProcessResult table = RunPgvault({"help-options", "--markdown"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  ASSERT_NE(table.out.find("| `--block-size` |"), std::string::npos) << table.out;
  std::string guide = ReadFile(std::string(PGVAULT_SOURCE_DIR) + "/docs/user-guide.md");
  EXPECT_NE(guide.find(table.out), std::string::npos)
      << "docs/user-guide.md: replace its option reference with the output of "
         "'pgvault help-options --markdown':\n"
      << table.out;
}

TEST(OptionsCliTest, HelpListsEachCommandsOptions) {
  ProcessResult all = RunPgvault({"--help"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_NE(all.out.find("  archive-get    restore_command: fetch WAL file NAME into DEST\n"),
            std::string::npos)
      << all.out;
  ProcessResult restore = RunPgvault({"restore", "--help"});
  EXPECT_EQ(restore.exit_code, 0);
  EXPECT_TRUE(restore.out.starts_with("Usage: pgvault restore [OPTIONS]\n")) << restore.out;
  EXPECT_NE(restore.out.find("--target-time TIME"), std::string::npos) << restore.out;
  EXPECT_EQ(restore.out.find("--cipher"), std::string::npos) << restore.out;
}

class OptionsConfigTest : public ::testing::Test {
 protected:
  ProcessResult WithConfig(const std::string& text, const std::vector<std::string>& args) {
    WriteFile(config_, text);
    std::vector<std::string> all = {"--config", config_};
    all.insert(all.end(), args.begin(), args.end());
    return RunPgvault(all, {std::string("PGVAULT_PASSPHRASE=") + kTestPassphrase});
  }
  // What `info` prints with config file `text`, which it must refuse as a configuration error;
  // the config file's path written as CONFIG.
  std::string ConfigError(const std::string& text) {
    ProcessResult r = WithConfig(text, {"info"});
    EXPECT_EQ(r.exit_code, kExitConfig) << r.err;
    for (size_t at; (at = r.err.find(config_)) != std::string::npos;)
      r.err.replace(at, config_.size(), "CONFIG");
    return r.err;
  }
  TempDir dir_{"options"};
  std::string config_ = dir_.Sub("pgvault.toml");
};

TEST_F(OptionsConfigTest, SyntaxErrorNamesTheLine) {
  std::string err = ConfigError("repo = \"/nowhere\"\njobs = = 3\n");
  EXPECT_TRUE(err.starts_with("error: config file 'CONFIG' line 2, column ")) << err;
  EXPECT_NE(err.find(": syntax error: "), std::string::npos) << err;
}

TEST_F(OptionsConfigTest, UnknownKeyGetsTheNearestName) {
  EXPECT_EQ(ConfigError("repo = \"/nowhere\"\njbos = 3\n"),
            "error: config file 'CONFIG' line 2: unknown option 'jbos', did you mean 'jobs'?\n"
            "HINT: config keys are the long flag names without '--'; see 'pgvault --help'\n");
}

TEST_F(OptionsConfigTest, PassphraseInTheConfigFileIsRefused) {
  EXPECT_EQ(ConfigError("passphrase = \"a secret in a file\"\n"),
            "error: config file 'CONFIG' line 1: 'passphrase' is a secret and is never read from a "
            "config file\nHINT: set PGVAULT_PASSPHRASE in pgvault's environment, or use key-file = "
            "FILE\n");
}

TEST_F(OptionsConfigTest, KeyFileThatOthersCanReadIsRefused) {
  std::string key = dir_.Sub("open.key");
  WriteFile(key, "9f1c2e4b7a0d3f6e8b5c1a2d4e6f8091a3b5c7d9e1f2a4b6\n");
  ::chmod(key.c_str(), 0644);
  std::string repo = dir_.Sub("repo");
  ProcessResult r = RunPgvault({"--repo", repo, "--key-file", key, "repo-create"});
  EXPECT_EQ(r.exit_code, kExitConfig);
  EXPECT_EQ(r.err, fmt::format("error: key file '{}' is accessible by group or others (mode "
                               "0644)\nHINT: chmod 600 {}\n",
                               key, key));
  EXPECT_FALSE(fs::exists(repo + "/config"));
}

TEST_F(OptionsConfigTest, ShortPassphraseIsRefusedAtCreation) {
  std::string repo = dir_.Sub("repo");
  ProcessResult r = RunPgvault({"--repo", repo, "repo-create"}, {"PGVAULT_PASSPHRASE=x"});
  EXPECT_EQ(r.exit_code, kExitConfig);
  EXPECT_EQ(r.err,
            "error: the passphrase holds fewer than 16 characters\nHINT: use a passphrase of at "
            "least 16 characters (PGVAULT_PASSPHRASE; key-add: PGVAULT_NEW_PASSPHRASE), or a key "
            "file\n");
  EXPECT_FALSE(fs::exists(repo + "/config"));
}

// restore writes restore_command from the table's forwarded options; PostgreSQL runs it with
// /bin/sh. Run it the same way for an archived segment.
TEST(OptionsRestoreCommandTest, PosixRestoreCommandFetchesArchivedWal) {
  TestRepo repo(RepoCipher::kKeyFile);
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand()});
  ASSERT_EQ(repo.Backup(*source).exit_code, 0);
  source->SwitchWalAndWaitArchived();
  std::string segment = repo.Info()["wal"][0]["first"].get<std::string>();

  TempDir target("restorecmd");
  ProcessResult restore = repo.Run({"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  std::string conf = ReadFile(target.Sub("pgdata") + "/postgresql.auto.conf");
  size_t at = conf.find("restore_command = '");
  ASSERT_NE(at, std::string::npos) << conf;
  std::string line = conf.substr(at + 19, conf.find('\n', at) - at - 19);
  std::string command;
  for (size_t i = 0; i + 1 < line.size(); ++i) {  // drop the closing quote, undo ''
    command += line[i];
    if (line[i] == '\'' && line[i + 1] == '\'') ++i;
  }
  EXPECT_EQ(command, fmt::format("{} --repo {} --key-file {} archive-get %f \"%p\"", PGVAULT_BINARY,
                                 repo.path(), repo.key_file()));
  std::string dest = target.Sub("fetched");
  std::string run = command;
  run.replace(run.find("%f"), 2, segment);
  run.replace(run.find("%p"), 2, dest);
  ProcessResult fetched = RunAsPostgres({"/bin/sh", "-c", run});
  EXPECT_EQ(fetched.exit_code, 0) << fetched.err;
  ASSERT_TRUE(fs::exists(dest));
  EXPECT_EQ(fs::file_size(dest), 16u << 20);
}

}  // namespace
}  // namespace pgvault::test

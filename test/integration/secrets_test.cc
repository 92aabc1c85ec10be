// Secrets (issue 14) against real PostgreSQL 15 clusters: a passphrase (PGVAULT_PASSPHRASE) and a
// key file's contents never appear in the command line of pgvault or of anything it starts, in
// the output of any command (failing ones included, at --log-level debug), in logs, in
// restore_command, in info --json or in any file of the repository. Every pgvault process,
// the forked async pusher included, is not dumpable while it runs. A server started by restore
// --start or drill inherits PGVAULT_PASSPHRASE only when its restore_command needs it (the
// repository is unlocked by the passphrase; with a key file, restore_command names the file),
// and never PGVAULT_NEW_PASSPHRASE or an S3 secret of a local repository; pg_amcheck inherits no
// secret. Repository files are not group-writable nor readable by others, the config and key
// objects readable by their owner only.
//
// Processes are watched through /proc (proc_watch.h) while the commands run.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "exit_codes.h"
#include "marks.h"
#include "pg_cluster.h"
#include "proc_watch.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

// A secret no test fixture or log line could contain by chance.
std::string UniqueSecret(const std::string& label) {
  std::random_device rd;
  return fmt::format("{}-{:08x}{:08x}{:08x}", label, rd(), rd(), rd());
}

// Every output of every command, to be searched at the end.
struct Outputs {
  std::vector<std::pair<std::string, std::string>> texts;  // what, text
  void Add(const std::string& what, const ProcessResult& r) {
    texts.emplace_back(what + " (stdout)", r.out);
    texts.emplace_back(what + " (stderr)", r.err);
  }
  void AddFile(const std::string& path) { texts.emplace_back(path, ReadFile(path)); }
  void ExpectNone(const std::string& secret) const {
    for (const auto& [what, text] : texts)
      EXPECT_EQ(text.find(secret), std::string::npos) << what << " holds the secret:\n" << text;
  }
};

// Every file under dir (recursively), for logs and the repository.
std::vector<std::string> AllFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

void ExpectNoFileHolds(const std::string& dir, const std::string& secret) {
  size_t files = 0;
  for (const auto& path : AllFiles(dir)) {
    ++files;
    EXPECT_EQ(ReadFile(path).find(secret), std::string::npos) << path << " holds the secret";
  }
  EXPECT_GT(files, 0u) << dir;
}

// No repository file or directory is writable by the group or accessible by others; the config
// and the key objects are the owner's only.
void ExpectRepositoryModes(const std::string& repo, const std::string& after) {
  SCOPED_TRACE("modes after " + after);
  size_t key_objects = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0) << e.path();
    std::string rel = e.path().lexically_relative(repo).string();
    EXPECT_EQ(st.st_mode & 0027, 0u) << rel << fmt::format(" has mode {:04o}", st.st_mode & 07777);
    if (rel == "config" || rel.starts_with("keys/")) {
      if (rel.starts_with("keys/")) ++key_objects;
      EXPECT_EQ(st.st_mode & 0077, 0u)
          << rel << fmt::format(" has mode {:04o}", st.st_mode & 07777);
    }
  }
  EXPECT_GE(key_objects, 1u);
}

std::vector<std::string> RestoreArgs(const std::string& pgdata, int port) {
  return {"restore",   "--pgdata",           pgdata,   "--pg-host", "127.0.0.1",
          "--pg-port", std::to_string(port), "--start"};
}

// The postmaster of a data directory under dir.
bool IsServerOf(const SeenProcess& p, const std::string& dir) {
  return p.exe.starts_with("/usr/lib/postgresql/") && p.exe.ends_with("/postgres") &&
         p.CmdlineHas(dir);
}

// The dumpable rule for every pgvault process watched long enough; returns how many were judged.
size_t ExpectPgvaultNotDumpable(const std::map<std::string, SeenProcess>& seen) {
  size_t judged = 0;
  for (const auto& [key, p] : seen) {
    if (!p.JudgedDumpable()) continue;
    ++judged;
    EXPECT_TRUE(p.last_not_dumpable)
        << "pgvault process " << key << " is dumpable: " << *p.cmdlines.begin();
  }
  return judged;
}

class SecretsTest : public ::testing::Test {
 protected:
  TempDir work_{"secrets"};
  std::string repo_ = work_.Sub("repo");
  Outputs outputs_;
  // pgvault ARGS with env, its output kept for the final search.
  ProcessResult Run(const std::string& what, const std::vector<std::string>& args, const Env& env) {
    ProcessResult r = RunPgvault(args, env);
    outputs_.Add(what, r);
    return r;
  }
};

TEST_F(SecretsTest, PassphraseNeverLeaksAndProcessesAreNotDumpable) {
  const std::string secret = UniqueSecret("passphrase");
  const std::string wrong = UniqueSecret("wrong-passphrase");
  const std::string added = UniqueSecret("added-passphrase");
  const std::string stray_s3 = UniqueSecret("s3-secret");
  const Env env = {"PGVAULT_PASSPHRASE=" + secret};
  const std::vector<std::string> repo = {"--repo", repo_, "--log-level", "debug"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), repo.begin(), repo.end());
    return args;
  };
  ProcWatch watch(PGVAULT_BINARY);
  ASSERT_EQ(Run("repo-create", with({"repo-create"}), env).exit_code, 0);

  std::string spool = work_.Sub("spool");
  std::string async_push =
      fmt::format("{} --repo {} --log-level debug --archive-async --spool-path {} archive-push %p",
                  PGVAULT_BINARY, repo_, spool);
  auto source = PgCluster::Create({.archive_command = async_push, .env = env});
  source->RunPgbench({"-i", "-s", "1", "-q"});
  source->SwitchWalAndWaitArchived();
  std::vector<std::string> backup_args =
      with({"backup", "--pgdata", source->pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
            std::to_string(source->port())});
  ProcessResult first = Run("backup", backup_args, env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  source->Exec("CREATE TABLE after_backup AS SELECT 1 AS x");
  source->SwitchWalAndWaitArchived();
  pid_t pusher = 0;
  std::ifstream(spool + "/pusher.lock") >> pusher;
  ASSERT_NE(pusher, 0);
  // And archive-push without the spool, as PostgreSQL runs it.
  source->SetArchiveCommand(ArchivePushCommand(repo_) + " --log-level debug");
  source->SwitchWalAndWaitArchived();
  ExpectRepositoryModes(repo_, "backup and archive-push");

  // A second backup and expire of the first.
  ProcessResult second = Run("backup", backup_args, env);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ProcessResult expire =
      Run("expire", with({"expire", "--backup", BackupIdFromSummary(first.out), "--gc-grace", "0"}),
          env);
  ASSERT_EQ(expire.exit_code, 0) << expire.err;
  ExpectRepositoryModes(repo_, "expire");

  // restore --start with secrets in its environment that the server does not need.
  TempDir restored("restored");
  std::string pgdata = restored.Sub("pgdata");
  watch.WatchPath(pgdata);
  int port = FreePort();
  Env restore_env = {"PGVAULT_PASSPHRASE=" + secret, "PGVAULT_NEW_PASSPHRASE=" + added,
                     "PGVAULT_S3_KEY=someone", "PGVAULT_S3_KEY_SECRET=" + stray_s3};
  ProcessResult restore = Run("restore", with(RestoreArgs(pgdata, port)), restore_env);
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  {
    Restored db(pgdata, port);
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM after_backup"), "1");
  }
  std::string auto_conf = ReadFile(pgdata + "/postgresql.auto.conf");
  EXPECT_NE(auto_conf.find("restore_command = "), std::string::npos) << auto_conf;
  outputs_.texts.emplace_back("postgresql.auto.conf", auto_conf);
  for (const auto& path : AllFiles(pgdata + "/log")) outputs_.AddFile(path);

  // A drill, quick: the backup itself, no WAL beyond it.
  std::string scratch = work_.Sub("drill");
  watch.WatchPath(scratch);
  ProcessResult drill = Run(
      "drill", with({"drill", "--target-immediate", "--scratch", scratch, "--json"}), restore_env);
  EXPECT_EQ(drill.exit_code, 0) << drill.out << drill.err;

  // Failures: a wrong passphrase, a key-add with a too short new one; then one that works.
  ProcessResult bad =
      Run("info with a wrong passphrase", with({"info"}), {"PGVAULT_PASSPHRASE=" + wrong});
  EXPECT_EQ(bad.exit_code, kExitCrypto) << bad.err;
  EXPECT_NE(bad.err.find("wrong passphrase or key file"), std::string::npos) << bad.err;
  ProcessResult bad_restore =
      Run("restore with a wrong passphrase", with(RestoreArgs(restored.Sub("other"), FreePort())),
          {"PGVAULT_PASSPHRASE=" + wrong});
  EXPECT_EQ(bad_restore.exit_code, kExitCrypto) << bad_restore.err;
  ProcessResult short_add = Run("key-add with a short passphrase", with({"key-add"}),
                                {"PGVAULT_PASSPHRASE=" + secret, "PGVAULT_NEW_PASSPHRASE=short!"});
  EXPECT_EQ(short_add.exit_code, kExitConfig) << short_add.err;
  ProcessResult add = Run("key-add", with({"key-add"}),
                          {"PGVAULT_PASSPHRASE=" + secret, "PGVAULT_NEW_PASSPHRASE=" + added});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  ProcessResult info = Run("info --json", with({"info", "--json"}), env);
  EXPECT_EQ(info.exit_code, 0) << info.err;
  ProcessResult verify = Run("verify", with({"verify"}), env);
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  ExpectRepositoryModes(repo_, "key-add");
  outputs_.AddFile(spool + "/pusher.log");
  for (const auto& path : AllFiles(source->socket_dir()))
    if (path.ends_with(".log")) outputs_.AddFile(path);

  std::map<std::string, SeenProcess> seen = watch.Stop();
  ReportFigure("proc looks", std::to_string(watch.Looks()));
  ReportFigure("processes watched", std::to_string(seen.size()));

  for (const std::string& s : {secret, wrong, added, stray_s3, std::string("short!")}) {
    SCOPED_TRACE(s);
    outputs_.ExpectNone(s);
    ExpectNoFileHolds(repo_, s);
    for (const auto& [key, p] : seen)
      for (const auto& cmdline : p.cmdlines)
        EXPECT_EQ(cmdline.find(s), std::string::npos) << key << ": " << cmdline;
  }

  // Environments: the restored server and the drill's need the passphrase for archive-get;
  // nothing else pgvault started gets a secret.
  size_t restored_server = 0, drill_server = 0, pgvault_count = 0;
  for (const auto& [key, p] : seen) {
    if (p.pgvault) {
      ++pgvault_count;
      continue;
    }
    EXPECT_FALSE(p.EnvironHas(added)) << key << " " << p.exe;
    EXPECT_FALSE(p.EnvironHas(stray_s3)) << key << " " << p.exe;
    bool server = IsServerOf(p, pgdata) || IsServerOf(p, scratch);
    restored_server += IsServerOf(p, pgdata);
    drill_server += IsServerOf(p, scratch);
    if (server) {
      EXPECT_TRUE(p.environs.empty() || p.EnvironHas("PGVAULT_PASSPHRASE=" + secret))
          << key << " " << p.exe << " " << (p.cmdlines.empty() ? "" : *p.cmdlines.begin());
    }
    if (p.exe.ends_with("/pg_amcheck")) {
      EXPECT_FALSE(p.EnvironHas(secret)) << key << " pg_amcheck inherited the passphrase";
    }
  }
  ReportFigure("pgvault processes watched", std::to_string(pgvault_count));
  EXPECT_GE(restored_server, 1u);
  EXPECT_GE(drill_server, 1u) << [&] {
    std::string servers;
    for (const auto& [key, p] : seen)
      if (p.exe.ends_with("/postgres"))
        servers += key + " " + (p.cmdlines.empty() ? "" : *p.cmdlines.begin()) + "\n";
    return servers;
  }();

  size_t judged = ExpectPgvaultNotDumpable(seen);
  ReportFigure("pgvault processes proven not dumpable", std::to_string(judged));
  EXPECT_GE(judged, 4u);  // backups, restore, drill, the pusher at least
  bool pusher_judged = false;
  for (const auto& [key, p] : seen)
    if (p.pid == pusher && p.JudgedDumpable()) pusher_judged = p.last_not_dumpable;
  EXPECT_TRUE(pusher_judged) << "the async pusher (pid " << pusher << ") was not seen long enough "
                             << "or is dumpable";
}

TEST_F(SecretsTest, KeyFileContentsNeverLeakAndLooseKeyFilesAreRefused) {
  const std::string secret = UniqueSecret("key-file-contents");
  const std::string stray = UniqueSecret("stray-passphrase");
  std::string key = work_.Sub("repo.key");
  WriteFile(key, secret + "\n");
  ::chmod(key.c_str(), 0600);
  const std::vector<std::string> repo = {"--repo", repo_,         "--key-file",
                                         key,      "--log-level", "debug"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), repo.begin(), repo.end());
    return args;
  };
  ProcWatch watch(PGVAULT_BINARY);
  ASSERT_EQ(Run("repo-create", with({"repo-create"}), {}).exit_code, 0);
  auto source = PgCluster::Create({.archive_command = ArchivePushCommand(repo_, key)});
  source->SwitchWalAndWaitArchived();
  ProcessResult backup = Run("backup",
                             with({"backup", "--pgdata", source->pgdata(), "--pg-host", "127.0.0.1",
                                   "--pg-port", std::to_string(source->port())}),
                             {});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  source->SwitchWalAndWaitArchived();
  ExpectRepositoryModes(repo_, "backup");

  // restore --start by an operator whose shell happens to hold a passphrase: the key file
  // unlocks the repository, so the server must not inherit it.
  TempDir restored("restored");
  std::string pgdata = restored.Sub("pgdata");
  watch.WatchPath(pgdata);
  int port = FreePort();
  ProcessResult restore =
      Run("restore", with(RestoreArgs(pgdata, port)), {"PGVAULT_PASSPHRASE=" + stray});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  { Restored db(pgdata, port); }
  std::string auto_conf = ReadFile(pgdata + "/postgresql.auto.conf");
  EXPECT_NE(auto_conf.find("--key-file " + key), std::string::npos) << auto_conf;
  outputs_.texts.emplace_back("postgresql.auto.conf", auto_conf);
  for (const auto& path : AllFiles(pgdata + "/log")) outputs_.AddFile(path);

  // Bad key files: readable by others, too short, another key. None is echoed.
  std::string loose = work_.Sub("loose.key");
  WriteFile(loose, secret + "\n");
  ::chmod(loose.c_str(), 0644);
  ProcessResult r = Run("info with a loose key file",
                        {"--repo", repo_, "--key-file", loose, "--log-level", "debug", "info"}, {});
  EXPECT_EQ(r.exit_code, kExitConfig);
  EXPECT_EQ(ErrorText(r.err), fmt::format("error: key file '{}' is accessible by group or others "
                                          "(mode 0644)\nHINT: chmod 600 {}\n",
                                          loose, loose));
  std::string short_key = work_.Sub("short.key");
  WriteFile(short_key, secret.substr(0, 10) + "\n");
  ::chmod(short_key.c_str(), 0600);
  r = Run("info with a short key file", {"--repo", repo_, "--key-file", short_key, "info"}, {});
  EXPECT_EQ(r.exit_code, kExitConfig) << r.err;
  EXPECT_EQ(r.err.find(secret.substr(0, 10)), std::string::npos) << r.err;
  std::string other = work_.Sub("other.key");
  WriteFile(other, UniqueSecret("another-key-file") + "\n");
  ::chmod(other.c_str(), 0600);
  r = Run("info with another key file", {"--repo", repo_, "--key-file", other, "info"}, {});
  EXPECT_EQ(r.exit_code, kExitCrypto) << r.err;
  ProcessResult info = Run("info --json", with({"info", "--json"}), {});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  for (const auto& path : AllFiles(source->socket_dir()))
    if (path.ends_with(".log")) outputs_.AddFile(path);

  std::map<std::string, SeenProcess> seen = watch.Stop();
  for (const std::string& s : {secret, secret.substr(0, 10), stray}) {
    SCOPED_TRACE(s);
    outputs_.ExpectNone(s);
    ExpectNoFileHolds(repo_, s);
    for (const auto& [k, p] : seen)
      for (const auto& cmdline : p.cmdlines)
        EXPECT_EQ(cmdline.find(s), std::string::npos) << k << ": " << cmdline;
  }
  size_t restored_server = 0;
  for (const auto& [k, p] : seen) {
    if (p.pgvault) continue;
    restored_server += IsServerOf(p, pgdata);
    EXPECT_FALSE(p.EnvironHas(stray)) << k << " " << p.exe << " inherited PGVAULT_PASSPHRASE";
  }
  EXPECT_GE(restored_server, 1u);
  size_t judged = ExpectPgvaultNotDumpable(seen);
  ReportFigure("pgvault processes proven not dumpable", std::to_string(judged));
  EXPECT_GE(judged, 2u);
}

}  // namespace
}  // namespace pgvault::test

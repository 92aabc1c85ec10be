// The real-PostgreSQL test harness: scratch directories, PostgreSQL 15 clusters on free loopback
// ports, SQL over libpq, pgbench, and the pgvault binary under test, all run as the OS user
// postgres. The tests themselves run as root.
//
// Harness failures (initdb fails, a server does not start, a query errors) throw HarnessError with
// what failed and the tail of the server log; GoogleTest reports the exception as a failed test
// from any depth, including constructors and SetUpTestSuite. Outcomes a test asserts on (exit
// codes, stdout, stderr of pgvault) are returned, never thrown.
//
// Not thread-safe: one test thread drives the harness.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/s3/s3_storage.h"

namespace pgvault::test {

inline constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A scratch directory under /tmp owned by postgres (mode 0700), removed with everything in it by
// the destructor unless PGVAULT_KEEP_TMP=1, in which case its path is printed.
class TempDir {
 public:
  explicit TempDir(const std::string& label = "dir");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name; nothing is created.
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// What a finished process left behind. exit_code is -N when signal N ended it.
struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Environment entries "NAME=value" added to the minimal environment every child gets
// (PATH, HOME, USER, LOGNAME of postgres, LANG=C.UTF-8); nothing of the test process leaks in.
// An entry replaces an earlier one of the same name.
using Env = std::vector<std::string>;

// A free TCP port on 127.0.0.1 (never 5432).
int FreePort();

// Runs argv as the OS user postgres: fork, drop to postgres' uid/gid, execve. No shell is
// involved, and secrets such as PGVAULT_PASSPHRASE travel in the environment, never in argv.
// The process is killed (and the harness throws) when it outlives the timeout.
ProcessResult RunAsPostgres(const std::vector<std::string>& argv, const Env& env = {},
                            std::chrono::seconds timeout = std::chrono::seconds(600));

// A process started as postgres that runs while the test does something else. Its stdout and
// stderr go to files that can be read at any time. The destructor kills it (SIGKILL) if it still
// runs.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const Env& env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // The process itself (not a wrapper such as runuser), so Signal(SIGKILL) kills the program.
  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits for the end (throws after the timeout) and returns what it wrote.
  ProcessResult Wait(std::chrono::seconds timeout = std::chrono::seconds(600));
  std::string StdoutSoFar() const;
  std::string StderrSoFar() const;

 private:
  TempDir output_dir_{"output"};
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
};

// Settings for a cluster's postgresql.conf (Create) or postgresql.auto.conf (Adopt).
struct ClusterOptions {
  // archive_command; empty means archive_mode = off. See ArchivePushCommand.
  std::string archive_command;
  // Environment of the server and so of archive_command and restore_command,
  // e.g. {"PGVAULT_PASSPHRASE=..."}.
  Env env;
  // Extra lines for the configuration file, e.g. "max_connections = 20".
  std::vector<std::string> settings;
};

// archive_command = '<PGVAULT_BINARY> --repo REPO [--key-file F] archive-push %p'.
std::string ArchivePushCommand(const std::string& repo, const std::string& key_file = "");

// One PostgreSQL 15 server listening on 127.0.0.1 on a free port, with its unix socket and log in
// a scratch directory of its own. The destructor stops it (fast shutdown), even after a failure.
class PgCluster {
 public:
  // initdb --data-checksums into a new scratch directory, configure, start.
  static std::unique_ptr<PgCluster> Create(const ClusterOptions& options = {});
  // Starts an existing data directory (e.g. a restored one) on a new free port: port, socket,
  // listen address and archiving are appended to its postgresql.auto.conf, so they win over the
  // source's postgresql.conf that a restore brings along. Does not wait for recovery to end.
  static std::unique_ptr<PgCluster> Adopt(const std::string& pgdata,
                                          const ClusterOptions& options = {});
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // pg_ctl -w start; throws with the server log's tail when it does not come up.
  void Start();
  // SIGINT to the postmaster (fast shutdown, a clean checkpoint), then waits until the process
  // is gone; SIGKILL after 60 s. Does nothing when not running.
  void Stop();
  bool Running() const;
  // The host is lost: SIGKILL to the postmaster and every process it started, at once; waits
  // until they are gone. Nothing is flushed or shut down.
  void Crash();

  // Polls pg_is_in_recovery() until false (bounded); throws with the log's tail otherwise.
  void WaitForRecoveryEnd(std::chrono::seconds timeout = std::chrono::seconds(300));

  // SQL over TCP to 127.0.0.1:port() as user postgres, database postgres; NULL reads as "".
  std::vector<std::vector<std::string>> Query(const std::string& sql);
  void Exec(const std::string& sql);
  std::string Scalar(const std::string& sql);

  // pg_switch_wal(), then waits until pg_stat_archiver reports the finished segment archived and
  // the archiver has nothing left to do. Returns that segment's name. Throws with the archiver's
  // last failure when it does not get there.
  std::string SwitchWalAndWaitArchived(std::chrono::seconds timeout = std::chrono::seconds(120));

  // Waits until no session other than the caller's is connected (e.g. after killing pgbench or
  // a backup), so that everything they committed is in WAL written before the next step.
  void WaitForNoOtherSessions(std::chrono::seconds timeout = std::chrono::seconds(60));

  // ALTER SYSTEM SET archive_command and reload; the next completed segment goes there.
  void SetArchiveCommand(const std::string& archive_command);

  // pgbench -h 127.0.0.1 -p PORT ARGS... postgres, as postgres; throws when it fails.
  ProcessResult RunPgbench(const std::vector<std::string>& args);
  std::unique_ptr<BackgroundProcess> StartPgbench(const std::vector<std::string>& args);

  // Copy of the server log.
  std::string ServerLog() const;
  std::string ServerLogTail(size_t lines = 40) const;

  const std::string& pgdata() const { return pgdata_; }
  int port() const { return port_; }
  // The directory holding the unix socket (usable as --pg-host) and the server log.
  const std::string& socket_dir() const { return work_.path(); }
  const Env& env() const { return options_.env; }

 private:
  PgCluster(std::string pgdata, const ClusterOptions& options);
  void WriteSettings(const std::string& conf_file);
  pid_t PostmasterPid() const;
  // True while pg_wal/archive_status holds a .ready file: WAL waiting for archive_command.
  bool ArchiveReadyFiles() const;

  TempDir work_{"cluster"};
  std::string pgdata_;
  ClusterOptions options_;
  int port_ = 0;
  std::string log_file_;
};

// The four tables pgbench -i creates, for TableChecksums.
inline const std::vector<std::string> kPgbenchTables = {"pgbench_accounts", "pgbench_branches",
                                                        "pgbench_tellers", "pgbench_history"};

// Row count and an order-independent md5 of every row of each table, keyed by table name:
// {"t": "rows=3 md5=..."}. Two clusters with equal maps hold the same data.
std::map<std::string, std::string> TableChecksums(PgCluster& cluster,
                                                  const std::vector<std::string>& tables);

// A snapshot of a directory tree: relative path -> "dir", "link -> target" or
// "file <size> <sha256>". Equal snapshots mean nothing was added, removed or changed.
std::map<std::string, std::string> TreeSnapshot(const std::string& dir);

// Every regular file under dir whose relative path starts with prefix, sorted.
std::vector<std::string> FilesUnder(const std::string& dir, const std::string& prefix = "");

// Whole-file helpers; throw HarnessError on failure.
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);
// Inverts the lowest bit of the byte at offset, in place.
void FlipByte(const std::string& path, uint64_t offset);
// Damages the repository object file at path the way the corruption matrix names it:
// "flip_first" / "flip_middle" / "flip_last" (one byte), "truncate_half" / "truncate_one",
// "delete", "swap" (other is renamed onto path) or "older" (a copy of other replaces it). The
// file keeps its owner.
void DamageFile(const std::string& path, const std::string& damage, const std::string& other = "");
// Recursively copies src to dst (which must not exist) keeping modes and postgres ownership.
void CopyTree(const std::string& src, const std::string& dst);

// The pgvault binary under test, run as postgres. Global flags go in args like any other.
ProcessResult RunPgvault(const std::vector<std::string>& args, const Env& env = {});
std::unique_ptr<BackgroundProcess> StartPgvault(const std::vector<std::string>& args,
                                                const Env& env = {});

// The last line of text, without its newline.
std::string LastLine(const std::string& text);

// How a test repository is locked.
enum class RepoCipher { kPassphrase, kKeyFile, kNone };
inline constexpr char kTestPassphrase[] = "correct horse battery staple";

// A repository in a bucket instead of a directory (s3_gateway.h makes these for its gateway).
struct S3Location {
  std::string url;                 // s3://BUCKET/PREFIX
  Env env;                         // credentials, endpoint and region, for pgvault and servers
  storage::s3::S3Options options;  // the same place for the test's own look at the objects
};

// A pgvault repository made with repo-create in a scratch directory of its own (or, given an
// S3Location, under that bucket prefix), and the flags and environment every pgvault command on
// it needs. The constructor throws when repo-create fails.
class TestRepo {
 public:
  explicit TestRepo(RepoCipher cipher, const std::vector<std::string>& create_args = {},
                    std::optional<S3Location> s3 = std::nullopt);

  // The repository directory (inside the scratch directory, created by pgvault), or its s3://
  // URL.
  const std::string& path() const { return path_; }
  bool on_s3() const { return s3_.has_value(); }
  // The scratch directory around it, for key files and other inputs.
  const TempDir& dir() const { return dir_; }
  // The key file of a kKeyFile repository, else "".
  const std::string& key_file() const { return key_file_; }
  // {"--repo", path} plus {"--key-file", F} for kKeyFile.
  std::vector<std::string> Flags() const;
  // {"PGVAULT_PASSPHRASE=..."} for kPassphrase, else empty. Servers archiving into or restoring
  // from this repository need it too.
  const Env& env() const { return env_; }
  std::string ArchiveCommand() const;

  // pgvault FLAGS ARGS... with env() plus extra (later entries win).
  ProcessResult Run(const std::vector<std::string>& args, const Env& extra = {}) const;
  // pgvault backup of a running cluster over TCP; extra args are appended.
  ProcessResult Backup(const PgCluster& cluster, const std::vector<std::string>& extra = {}) const;
  // info --json, parsed; throws when it fails.
  nlohmann::json Info() const;
  // Every object whose key starts with prefix (e.g. "packs/") and its size, as the store holds
  // them (files under the directory, objects listed by the bucket); throws when listing fails.
  std::map<std::string, uint64_t> Objects(const std::string& prefix) const;

 private:
  TempDir dir_{"repo"};
  std::optional<S3Location> s3_;
  RepoCipher cipher_;
  std::string path_;
  std::string key_file_;
  Env env_;
};

// The id in a backup's summary line "backup <ID> complete: ...", or "" when there is none.
std::string BackupIdFromSummary(const std::string& stdout_text);

// Reports a figure in the test log and as a GoogleTest property (shown in XML output).
void ReportFigure(const std::string& name, const std::string& value);

}  // namespace pgvault::test

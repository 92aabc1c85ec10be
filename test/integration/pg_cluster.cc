#include "pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct PostgresUser {
  uid_t uid;
  gid_t gid;
};

const PostgresUser& Postgres() {
  static const PostgresUser user = [] {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) throw HarnessError("there is no OS user 'postgres'; install postgresql-15");
    return PostgresUser{pw->pw_uid, pw->pw_gid};
  }();
  return user;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

bool KeepTmp() {
  const char* keep = std::getenv("PGVAULT_KEEP_TMP");
  return keep && std::string(keep) == "1";
}

// Absolute path of a program: as given when it holds a '/', else searched in the usual places.
std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const char* dir : {kPgBin, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
    std::string candidate = std::string(dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw HarnessError("cannot find program '" + name + "'");
}

std::string Describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& word : argv) out += (out.empty() ? "" : " ") + word;
  return out;
}

// Forks and execs argv as postgres with stdin from /dev/null and stdout/stderr on the given
// descriptors. Everything the child needs is prepared before fork: after it only
// async-signal-safe calls are allowed.
pid_t SpawnAsPostgres(const std::vector<std::string>& argv, const Env& extra_env, int out_fd,
                      int err_fd) {
  if (argv.empty()) throw HarnessError("empty command line");
  const PostgresUser& user = Postgres();
  std::string program = ResolveProgram(argv[0]);
  std::vector<std::string> env = {
      std::string("PATH=") + kPgBin + ":/usr/local/bin:/usr/bin:/bin",
      "HOME=/var/lib/postgresql",
      "USER=postgres",
      "LOGNAME=postgres",
      "LANG=C.UTF-8",
  };
  // A sanitizer build (scripts/sanitize.sh) passes its options on to pgvault, also where
  // PostgreSQL runs it as archive_command, so that a finding there is logged and fails the run.
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  for (const auto& entry : extra_env) {  // a later entry replaces an earlier one of that name
    std::string name = entry.substr(0, entry.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(name); });
    env.push_back(entry);
  }
  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) throw HarnessError(Errno("cannot open /dev/null"));
  static const char kExecFailed[] = "harness: cannot execute the program\n";

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    throw HarnessError(Errno("fork"));
  }
  if (pid == 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    if (::setgroups(1, &user.gid) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0 ||
        ::chdir("/") != 0) {
      ::_exit(126);
    }
    ::execve(program.c_str(), c_argv.data(), c_env.data());
    ssize_t ignored = ::write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(null_fd);
  return pid;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

// True once the process no longer exists or only its zombie is left (a daemonized postmaster is
// reaped by init, which may be slow to do so in a container).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = content.rfind(')');
  return paren == std::string::npos || paren + 2 >= content.size() || content[paren + 2] == 'Z';
}

std::string TailLines(const std::string& text, size_t lines) {
  size_t pos = text.size();
  for (size_t line_idx = 0; line_idx <= lines && pos > 0; ++line_idx) {
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
    if (line_idx == lines) return text.substr(pos + 1);
  }
  return text.substr(pos);
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr))
    throw HarnessError("EVP_Digest failed");
  std::string hex;
  for (unsigned int byte_idx = 0; byte_idx < len; ++byte_idx)
    hex += fmt::format("{:02x}", digest[byte_idx]);
  return hex;
}

std::string QuoteConf(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw HarnessError(Errno("socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok) throw HarnessError(Errno("cannot bind a loopback port"));
    int port = ntohs(addr.sin_port);
    if (port != 5432) return port;
  }
  throw HarnessError("no free loopback port");
}

// ---------------------------------------------------------------------------------------------

TempDir::TempDir(const std::string& label) {
  std::string pattern = "/tmp/pgvault-it-" + label + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw HarnessError(Errno("mkdtemp " + pattern));
  path_ = buf.data();
  if (::chown(path_.c_str(), Postgres().uid, Postgres().gid) != 0 ||
      ::chmod(path_.c_str(), 0700) != 0)
    throw HarnessError(Errno("cannot hand '" + path_ + "' to postgres"));
}

TempDir::~TempDir() {
  if (KeepTmp()) {
    std::cout << "[ kept     ] " << path_ << "\n";
    return;
  }
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

// ---------------------------------------------------------------------------------------------

ProcessResult RunAsPostgres(const std::vector<std::string>& argv, const Env& env,
                            std::chrono::seconds timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw HarnessError(Errno("pipe"));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw HarnessError(Errno("pipe"));
  }
  pid_t pid;
  try {
    pid = SpawnAsPostgres(argv, env, out_pipe[1], err_pipe[1]);
  } catch (...) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw;
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  ProcessResult result;
  auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int fd_idx = 0; fd_idx < 2; ++fd_idx) {
      if (fds[fd_idx].fd < 0 || !(fds[fd_idx].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t got = ::read(fds[fd_idx].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[fd_idx]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[fd_idx].fd);
        fds[fd_idx].fd = -1;
        open_fds--;
      }
    }
  }
  for (auto& pfd : fds)
    if (pfd.fd >= 0) ::close(pfd.fd);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = DecodeWaitStatus(status);
  if (timed_out)
    throw HarnessError(fmt::format("'{}' ran longer than {} s and was killed; stderr: {}",
                                   Describe(argv), timeout.count(), result.err));
  return result;
}

// ---------------------------------------------------------------------------------------------

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const Env& env) {
  int out_fd = ::open(output_dir_.Sub("stdout").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err_fd = ::open(output_dir_.Sub("stderr").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) throw HarnessError(Errno("cannot create output files"));
  try {
    pid_ = SpawnAsPostgres(argv, env, out_fd, err_fd);
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    throw;
  }
  ::close(out_fd);
  ::close(err_fd);
}

BackgroundProcess::~BackgroundProcess() {
  if (reaped_) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
}

bool BackgroundProcess::Running() {
  if (reaped_) return false;
  int status;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = DecodeWaitStatus(status);
  }
  return !reaped_;
}

void BackgroundProcess::Signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

ProcessResult BackgroundProcess::Wait(std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() > deadline) {
      Signal(SIGKILL);
      Wait();
      throw HarnessError(
          fmt::format("process {} ran longer than {} s and was killed", pid_, timeout.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ProcessResult{exit_code_, StdoutSoFar(), StderrSoFar()};
}

std::string BackgroundProcess::StdoutSoFar() const { return ReadFile(output_dir_.Sub("stdout")); }
std::string BackgroundProcess::StderrSoFar() const { return ReadFile(output_dir_.Sub("stderr")); }

// ---------------------------------------------------------------------------------------------

std::string ArchivePushCommand(const std::string& repo, const std::string& key_file) {
  std::string cmd = std::string(PGVAULT_BINARY) + " --repo " + repo;
  if (!key_file.empty()) cmd += " --key-file " + key_file;
  return cmd + " archive-push %p";
}

PgCluster::PgCluster(std::string pgdata, const ClusterOptions& options)
    : pgdata_(std::move(pgdata)), options_(options), log_file_(work_.Sub("server.log")) {}

std::unique_ptr<PgCluster> PgCluster::Create(const ClusterOptions& options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster("", options));
  cluster->pgdata_ = cluster->work_.Sub("data");
  ProcessResult init = RunAsPostgres({fmt::format("{}/initdb", kPgBin), "--data-checksums", "-D",
                                      cluster->pgdata_, "-U", "postgres", "--auth=trust"});
  if (init.exit_code != 0)
    throw HarnessError(fmt::format("initdb failed ({}): {}{}", init.exit_code, init.out, init.err));
  cluster->port_ = FreePort();
  cluster->WriteSettings(cluster->pgdata_ + "/postgresql.conf");
  cluster->Start();
  return cluster;
}

std::unique_ptr<PgCluster> PgCluster::Adopt(const std::string& pgdata,
                                            const ClusterOptions& options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster(pgdata, options));
  cluster->port_ = FreePort();
  cluster->WriteSettings(pgdata + "/postgresql.auto.conf");
  cluster->Start();
  return cluster;
}

PgCluster::~PgCluster() {
  try {
    Stop();
  } catch (const std::exception& e) {
    std::cerr << "harness: stopping the cluster in '" << pgdata_ << "' failed: " << e.what()
              << "\n";
  }
}

void PgCluster::WriteSettings(const std::string& conf_file) {
  std::string conf = "\n# Added by the pgvault integration test harness\n";
  conf += "listen_addresses = '127.0.0.1'\n";
  conf += fmt::format("port = {}\n", port_);
  conf += fmt::format("unix_socket_directories = {}\n", QuoteConf(work_.path()));
  conf += "wal_level = replica\nmax_wal_senders = 10\nlogging_collector = off\n";
  if (options_.archive_command.empty()) {
    conf += "archive_mode = off\n";
  } else {
    conf += "archive_mode = on\n";
    conf += fmt::format("archive_command = {}\n", QuoteConf(options_.archive_command));
  }
  for (const auto& line : options_.settings) conf += line + "\n";
  std::ofstream out(conf_file, std::ios::app);
  out << conf;
  out.close();
  if (!out) throw HarnessError("cannot append to '" + conf_file + "'");
}

void PgCluster::Start() {
  ProcessResult r = RunAsPostgres({fmt::format("{}/pg_ctl", kPgBin), "-D", pgdata_, "-l", log_file_,
                                   "-w", "-t", "300", "start"},
                                  options_.env);
  if (r.exit_code != 0)
    throw HarnessError(fmt::format("pg_ctl start of '{}' failed ({}): {}{}\nserver log:\n{}",
                                   pgdata_, r.exit_code, r.out, r.err, ServerLogTail()));
}

pid_t PgCluster::PostmasterPid() const {
  std::ifstream in(pgdata_ + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

bool PgCluster::Running() const {
  pid_t pid = PostmasterPid();
  return pid > 0 && !ProcessGone(pid);
}

void PgCluster::Crash() {
  pid_t pid = PostmasterPid();
  if (pid <= 0 || ProcessGone(pid)) return;
  // Children first listed, then everything killed: a backend must not outlive its postmaster
  // and write on after the "crash".
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) children.push_back(static_cast<pid_t>(std::stol(name)));
  }
  ::kill(pid, SIGKILL);
  for (pid_t child : children) ::kill(child, SIGKILL);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (pid_t p : children) {
    while (!ProcessGone(p) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (!ProcessGone(pid) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void PgCluster::Stop() {
  pid_t pid = PostmasterPid();
  if (pid <= 0 || ProcessGone(pid)) return;
  ::kill(pid, SIGINT);
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!ProcessGone(pid)) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      throw HarnessError(
          fmt::format("postmaster {} of '{}' ignored a fast shutdown for 60 s", pid, pgdata_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void PgCluster::WaitForRecoveryEnd(std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last_error;
  while (Clock::now() < deadline) {
    try {
      if (Scalar("SELECT pg_is_in_recovery()") == "f") return;
    } catch (const HarnessError& e) {
      last_error = e.what();  // e.g. still starting up; keep polling
    }
    if (!Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw HarnessError(fmt::format(
      "the cluster in '{}' did not finish recovery within {} s (running: {}; last error: {})\n"
      "server log:\n{}",
      pgdata_, timeout.count(), Running(), last_error, ServerLogTail()));
}

std::vector<std::vector<std::string>> PgCluster::Query(const std::string& sql) {
  std::string port = std::to_string(port_);
  const char* keys[] = {"host", "port", "user", "dbname", "connect_timeout", nullptr};
  const char* values[] = {"127.0.0.1", port.c_str(), "postgres", "postgres", "10", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 0);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    throw HarnessError(fmt::format("cannot connect to 127.0.0.1:{}: {}", port_, msg));
  }
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PQresultErrorMessage(res);
    PQclear(res);
    PQfinish(conn);
    throw HarnessError(fmt::format("query failed on 127.0.0.1:{}: {}\n{}", port_, sql, msg));
  }
  std::vector<std::vector<std::string>> rows;
  for (int row_idx = 0; row_idx < PQntuples(res); ++row_idx) {
    std::vector<std::string> row;
    for (int col_idx = 0; col_idx < PQnfields(res); ++col_idx)
      row.emplace_back(PQgetvalue(res, row_idx, col_idx),
                       static_cast<size_t>(PQgetlength(res, row_idx, col_idx)));
    rows.push_back(std::move(row));
  }
  PQclear(res);
  PQfinish(conn);
  return rows;
}

void PgCluster::Exec(const std::string& sql) { Query(sql); }

std::string PgCluster::Scalar(const std::string& sql) {
  auto rows = Query(sql);
  if (rows.size() != 1 || rows[0].size() != 1)
    throw HarnessError(fmt::format("expected one value from: {} (got {} rows)", sql, rows.size()));
  return rows[0][0];
}

bool PgCluster::ArchiveReadyFiles() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pgdata_ + "/pg_wal/archive_status", ec))
    if (entry.path().extension() == ".ready") return true;
  return false;
}

std::string PgCluster::SwitchWalAndWaitArchived(std::chrono::seconds timeout) {
  // Waits for the archiver to have nothing left (no .ready file), too: a backup history file or
  // a segment finished by a shutdown is archived in the background after the segment named here.
  // pg_walfile_name() of the switch position names the segment the switch finished. When there
  // was nothing to switch it names the previous segment, which is then archived or on its way.
  std::string segment = Scalar("SELECT pg_walfile_name(pg_switch_wal())");
  auto deadline = Clock::now() + timeout;
  std::vector<std::string> archiver;
  while (Clock::now() < deadline) {
    archiver = Query(
        "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, ''), failed_count "
        "FROM pg_stat_archiver")[0];
    if (archiver[0] >= segment && !ArchiveReadyFiles()) return segment;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw HarnessError(fmt::format(
      "WAL segment {} was not archived within {} s (last archived '{}', last failed '{}', {} "
      "failures)\nserver log:\n{}",
      segment, timeout.count(), archiver[0], archiver[1], archiver[2], ServerLogTail()));
}

void PgCluster::WaitForNoOtherSessions(std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string others;
  while (Clock::now() < deadline) {
    others = Scalar(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    if (others == "0") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw HarnessError(
      fmt::format("{} other sessions still connected after {} s", others, timeout.count()));
}

void PgCluster::SetArchiveCommand(const std::string& archive_command) {
  Exec(fmt::format("ALTER SYSTEM SET archive_command = {}", QuoteConf(archive_command)));
  Exec("SELECT pg_reload_conf()");
  options_.archive_command = archive_command;
}

ProcessResult PgCluster::RunPgbench(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {fmt::format("{}/pgbench", kPgBin), "-h", "127.0.0.1", "-p",
                                   std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("postgres");
  ProcessResult r = RunAsPostgres(argv);
  if (r.exit_code != 0)
    throw HarnessError(fmt::format("'{}' failed ({}): {}", Describe(argv), r.exit_code, r.err));
  return r;
}

std::unique_ptr<BackgroundProcess> PgCluster::StartPgbench(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {fmt::format("{}/pgbench", kPgBin), "-h", "127.0.0.1", "-p",
                                   std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("postgres");
  return std::make_unique<BackgroundProcess>(argv);
}

std::string PgCluster::ServerLog() const {
  std::ifstream in(log_file_, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string PgCluster::ServerLogTail(size_t lines) const { return TailLines(ServerLog(), lines); }

// ---------------------------------------------------------------------------------------------

std::map<std::string, std::string> TableChecksums(PgCluster& cluster,
                                                  const std::vector<std::string>& tables) {
  std::map<std::string, std::string> sums;
  for (const auto& table : tables) {
    // md5 per row, then md5 over the sorted row hashes: independent of physical row order and
    // of duplicates' positions, and cheaper to sort than the rows' text.
    auto row = cluster.Query(
        fmt::format("SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
                    "FROM (SELECT md5(t::text) COLLATE \"C\" AS h FROM {} t) s",
                    table))[0];
    sums[table] = fmt::format("rows={} md5={}", row[0], row[1]);
  }
  return sums;
}

std::map<std::string, std::string> TreeSnapshot(const std::string& dir) {
  std::map<std::string, std::string> snapshot;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink()) {
      snapshot[rel] = "link -> " + fs::read_symlink(it->path()).string();
    } else if (it->is_directory()) {
      snapshot[rel] = "dir";
    } else {
      std::string content = ReadFile(it->path().string());
      snapshot[rel] = fmt::format("file {} {}", content.size(), Sha256Hex(content));
    }
  }
  return snapshot;
}

std::vector<std::string> FilesUnder(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string rel = fs::relative(entry.path(), dir).string();
    if (entry.is_regular_file() && !entry.is_symlink() && rel.starts_with(prefix))
      files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessError(Errno("cannot read '" + path + "'"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw HarnessError(Errno("cannot write '" + path + "'"));
  if (::chown(path.c_str(), Postgres().uid, Postgres().gid) != 0)
    throw HarnessError(Errno("cannot hand '" + path + "' to postgres"));
}

void FlipByte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw HarnessError(Errno("cannot open '" + path + "'"));
  unsigned char byte;
  bool ok = ::pread(fd, &byte, 1, static_cast<off_t>(offset)) == 1;
  byte ^= 0x01;
  ok = ok && ::pwrite(fd, &byte, 1, static_cast<off_t>(offset)) == 1;
  ::close(fd);
  if (!ok) throw HarnessError(fmt::format("cannot flip byte {} of '{}'", offset, path));
}

void DamageFile(const std::string& path, const std::string& damage, const std::string& other) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw HarnessError(Errno("cannot stat '" + path + "'"));
  uint64_t size = fs::file_size(path);
  if (damage == "flip_first")
    FlipByte(path, 0);
  else if (damage == "flip_middle")
    FlipByte(path, size / 2);
  else if (damage == "flip_last")
    FlipByte(path, size - 1);
  else if (damage == "truncate_half")
    fs::resize_file(path, size / 2);
  else if (damage == "truncate_one")
    fs::resize_file(path, size - 1);
  else if (damage == "delete")
    fs::remove(path);
  else if (damage == "swap")
    fs::rename(other, path);
  else if (damage == "older")
    fs::copy_file(other, path, fs::copy_options::overwrite_existing);
  else
    throw HarnessError("unknown damage '" + damage + "'");
  if (fs::exists(path) && ::chown(path.c_str(), st.st_uid, st.st_gid) != 0)
    throw HarnessError(Errno("cannot chown '" + path + "'"));
}

void CopyTree(const std::string& src, const std::string& dst) {
  ProcessResult r = RunAsPostgres({"/bin/cp", "-a", src, dst});
  if (r.exit_code != 0)
    throw HarnessError(fmt::format("cp -a '{}' '{}' failed: {}", src, dst, r.err));
}

ProcessResult RunPgvault(const std::vector<std::string>& args, const Env& env) {
  std::vector<std::string> argv = {PGVAULT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunAsPostgres(argv, env);
}

std::unique_ptr<BackgroundProcess> StartPgvault(const std::vector<std::string>& args,
                                                const Env& env) {
  std::vector<std::string> argv = {PGVAULT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<BackgroundProcess>(argv, env);
}

TestRepo::TestRepo(RepoCipher cipher, const std::vector<std::string>& create_args,
                   std::optional<S3Location> s3)
    : s3_(std::move(s3)), cipher_(cipher), path_(s3_ ? s3_->url : dir_.Sub("repo")) {
  if (s3_) env_ = s3_->env;
  std::vector<std::string> args = {"repo-create"};
  switch (cipher) {
    case RepoCipher::kPassphrase:
      env_.push_back(std::string("PGVAULT_PASSPHRASE=") + kTestPassphrase);
      break;
    case RepoCipher::kKeyFile:
      key_file_ = dir_.Sub("repo.key");
      WriteFile(key_file_, "9f1c2e4b7a0d3f6e8b5c1a2d4e6f8091a3b5c7d9e1f2a4b6\n");
      ::chmod(key_file_.c_str(), 0600);
      break;
    case RepoCipher::kNone:
      args.insert(args.end(), {"--cipher", "none"});
      break;
  }
  args.insert(args.end(), create_args.begin(), create_args.end());
  ProcessResult r = Run(args);
  if (r.exit_code != 0)
    throw HarnessError(fmt::format("repo-create failed ({}): {}{}", r.exit_code, r.out, r.err));
}

std::vector<std::string> TestRepo::Flags() const {
  std::vector<std::string> flags = {"--repo", path_};
  if (!key_file_.empty()) flags.insert(flags.end(), {"--key-file", key_file_});
  return flags;
}

std::string TestRepo::ArchiveCommand() const { return ArchivePushCommand(path_, key_file_); }

ProcessResult TestRepo::Run(const std::vector<std::string>& args, const Env& extra) const {
  std::vector<std::string> argv = Flags();
  argv.insert(argv.end(), args.begin(), args.end());
  Env env = env_;
  env.insert(env.end(), extra.begin(), extra.end());
  return RunPgvault(argv, env);
}

ProcessResult TestRepo::Backup(const PgCluster& cluster,
                               const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {"backup",
                                   "--pgdata",
                                   cluster.pgdata(),
                                   "--pg-host",
                                   "127.0.0.1",
                                   "--pg-port",
                                   std::to_string(cluster.port())};
  args.insert(args.end(), extra.begin(), extra.end());
  return Run(args);
}

nlohmann::json TestRepo::Info() const {
  ProcessResult r = Run({"info", "--json"});
  if (r.exit_code != 0)
    throw HarnessError(fmt::format("info --json failed ({}): {}", r.exit_code, r.err));
  auto parsed = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw HarnessError("info --json printed no JSON: " + r.out);
  return parsed;
}

std::map<std::string, uint64_t> TestRepo::Objects(const std::string& prefix) const {
  std::map<std::string, uint64_t> objects;
  if (!s3_) {
    for (const std::string& rel : FilesUnder(path_, prefix)) {
      struct stat st {};
      if (::stat((path_ + "/" + rel).c_str(), &st) == 0) objects[rel] = st.st_size;
    }
    return objects;
  }
  auto bucket = storage::s3::S3Storage::Open(s3_->options);
  if (!bucket.ok()) throw HarnessError("opening " + s3_->url + ": " + bucket.status().ToString());
  auto listed = (*bucket)->List(prefix);
  if (!listed.ok())
    throw HarnessError("listing " + s3_->url + "/" + prefix + ": " + listed.status().ToString());
  for (const storage::ObjectInfo& object : *listed) objects[object.key] = object.size;
  return objects;
}

std::string BackupIdFromSummary(const std::string& stdout_text) {
  std::string line = LastLine(stdout_text);
  size_t end = line.find(" complete:");
  if (!line.starts_with("backup ") || end == std::string::npos) return "";
  return line.substr(7, end - 7);
}

std::string LastLine(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  size_t nl = trimmed.rfind('\n');
  return nl == std::string::npos ? trimmed : trimmed.substr(nl + 1);
}

void ReportFigure(const std::string& name, const std::string& value) {
  std::cout << "[ figure   ] " << name << " = " << value << std::endl;
  ::testing::Test::RecordProperty(name, value);
}

}  // namespace pgvault::test

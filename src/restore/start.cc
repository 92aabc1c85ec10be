// restore --start: starts the restored cluster and follows recovery until it promotes, pauses
// at the target, shuts down at the target, or fails. The server's own log is the record of
// where it stopped; SQL gives the exact LSN, time and timeline while it runs.
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "common/time.h"
#include "pg/session.h"
#include "restore/restore.h"

namespace pgvault::restore {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last line of the log that contains needle, without the log line prefix up to "LOG:  ".
std::string LastLogLine(const std::string& log_text, std::string_view needle) {
  size_t at = log_text.rfind(needle);
  if (at == std::string::npos) return "";
  size_t begin = log_text.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  size_t end = log_text.find('\n', at);
  std::string line = log_text.substr(begin, end == std::string::npos ? end : end - begin);
  for (std::string_view level : {"LOG:  ", "FATAL:  ", "PANIC:  "}) {
    size_t p = line.find(level);
    if (p != std::string::npos && p < at - begin) return line.substr(p);
  }
  return line;
}

pid_t PostmasterPid(const std::string& pgdata) {
  std::ifstream in(pgdata + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

std::string ControlValue(const std::string& controldata, std::string_view key) {
  size_t at = controldata.find(key);
  if (at == std::string::npos) return "";
  size_t colon = controldata.find(':', at);
  size_t end = controldata.find('\n', colon);
  std::string v = controldata.substr(colon + 1, end - colon - 1);
  size_t first = v.find_first_not_of(' ');
  return first == std::string::npos ? "" : v.substr(first);
}

// The server stopped: at the recovery target as asked (report completed from the log and
// pg_controldata), or because recovery failed (the error lines of its log).
Result<RecoveryReport> ServerGone(const StartOptions& o, const std::string& log_path,
                                  RecoveryReport report) {
  std::string log_text = ReadText(log_path);
  if (log_text.find("shutdown at recovery target") != std::string::npos) {
    report.outcome = "shut down at the target";
    report.stop_detail = LastLogLine(log_text, "recovery stopping");
    auto control =
        RunProgram({PgBin(o.pg_version, "pg_controldata"), "-D", o.pgdata}, o.run_as, o.unset_env);
    if (control.ok()) {
      report.stop_lsn = ControlValue(control->second, "Minimum recovery ending location");
      report.timeline = static_cast<uint32_t>(
          std::strtoul(ControlValue(control->second, "Min recovery ending loc's timeline").c_str(),
                       nullptr, 10));
    }
    return report;
  }
  std::string why = LastLogLine(log_text, "error: ");
  std::string fatal = LastLogLine(log_text, "FATAL:  ");
  if (fatal.empty()) fatal = LastLogLine(log_text, "PANIC:  ");
  std::string msg = "the restored cluster stopped during recovery";
  if (!why.empty()) msg += ": " + why;
  if (!fatal.empty()) msg += (why.empty() ? ": " : "; ") + fatal;
  return std::move(Status::Pg(msg)).WithHint(fmt::format("see the server log '{}'", log_path));
}

}  // namespace

std::string PgBin(int pg_version, const char* tool) {
  std::string path = fmt::format("/usr/lib/postgresql/{}/bin/{}", pg_version / 10000, tool);
  if (::access(path.c_str(), X_OK) == 0) return path;
  return tool;  // from PATH
}

// Drops to the OS user `name` in a forked child (when running as root).
static void BecomeUser(const std::string& name) {
  if (name.empty() || ::geteuid() != 0) return;
  passwd* pw = ::getpwnam(name.c_str());
  if (!pw || ::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
    ::_exit(126);
  ::setenv("HOME", pw->pw_dir, 1);
  ::setenv("USER", pw->pw_name, 1);
}

Result<std::pair<int, std::string>> RunProgram(const std::vector<std::string>& argv,
                                               const std::string& run_as,
                                               const std::vector<std::string>& unset_env) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::Io("cannot create a pipe");
  pid_t pid = ::fork();
  if (pid < 0) return Status::Io("cannot fork");
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, STDIN_FILENO);
    BecomeUser(run_as);
    for (const auto& name : unset_env) ::unsetenv(name.c_str());
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  UniqueFd from_child(pipe_fds[0]);
  std::string out;
  uint8_t buf[4096];
  for (;;) {
    auto n = ReadFull(from_child.get(), buf, argv[0]);
    if (!n.ok() || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 127) return Status::Io(fmt::format("cannot run '{}'", argv[0]));
  if (code == 126 && !run_as.empty())
    return Status::Io(fmt::format("cannot run '{}' as the OS user '{}'", argv[0], run_as));
  return std::make_pair(code, out);
}

Status StopServer(const std::string& pgdata, double timeout_seconds) {
  pid_t pid = PostmasterPid(pgdata);
  if (pid <= 0 || ::kill(pid, SIGINT) != 0) return Status::Ok();
  double t0 = MonotonicSeconds();
  while (::kill(pid, 0) == 0) {
    if (MonotonicSeconds() - t0 > timeout_seconds) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Ok();
}

// Starts the restored server with pg_ctl (as o.run_as when given), its log under PGDATA/log.
static Status StartServer(const StartOptions& o, const std::string& log_path) {
  std::string log_dir = o.pgdata + "/log";
  ::mkdir(log_dir.c_str(), 0700);
  if (!o.run_as.empty() && ::geteuid() == 0)
    if (passwd* pw = ::getpwnam(o.run_as.c_str()))
      if (::chown(log_dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        log::Warn("cannot hand '{}' to '{}'", log_dir, o.run_as);
  PGV_ASSIGN_OR_RETURN(auto started, RunProgram({PgBin(o.pg_version, "pg_ctl"), "start", "-W", "-s",
                                                 "-D", o.pgdata, "-l", log_path},
                                                o.run_as, o.unset_env));
  if (started.first != 0)
    return std::move(Status::Pg(fmt::format("pg_ctl could not start the restored cluster in '{}'",
                                            o.pgdata)))
        .WithHint(fmt::format("see '{}'", log_path));
  return Status::Ok();
}

Result<RecoveryReport> StartAndFollow(const StartOptions& o) {
  std::string log_path = o.pgdata + "/log/pgvault-recovery.log";
  double t0 = MonotonicSeconds();
  PGV_RETURN_IF_ERROR(StartServer(o, log_path));
  pg::ConnOptions conn{.host = o.host, .port = o.port, .user = o.user};
  RecoveryReport report;
  pid_t pid = 0;
  // Progress is the replayed LSN or the server log growing ("restored log file ..." per
  // segment, also before the copy is consistent and accepts connections).
  std::string last_lsn;
  off_t last_log_size = -1;
  double last_progress = MonotonicSeconds();
  for (int poll_idx = 0;; ++poll_idx) {
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_idx < 50 ? 50 : 200));
    if (pid == 0) pid = PostmasterPid(o.pgdata);
    bool alive = pid != 0 && ::kill(pid, 0) == 0;
    if (!alive && (pid != 0 || poll_idx > 100)) break;
    struct stat log_st;
    if (::stat(log_path.c_str(), &log_st) == 0 && log_st.st_size != last_log_size) {
      last_log_size = log_st.st_size;
      last_progress = MonotonicSeconds();
    }
    if (report.stop_lsn != last_lsn) {
      last_lsn = report.stop_lsn;
      last_progress = MonotonicSeconds();
    }
    if (MonotonicSeconds() - last_progress > o.stall_seconds)
      return std::move(Status::Pg(fmt::format(
                           "recovery of '{}' made no progress for {:.0f} s (last replayed lsn {}); "
                           "the server is still running",
                           o.pgdata, o.stall_seconds, last_lsn.empty() ? "-" : last_lsn)))
          .WithHint(fmt::format("see the server log '{}'; stop it with pg_ctl stop -D '{}'",
                                log_path, o.pgdata));
    auto session = pg::PgSession::Connect(conn);
    if (!session.ok()) continue;  // still starting up, or not yet consistent
    auto rows = (*session)->Query(
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN "
        "pg_get_wal_replay_pause_state() END, "
        "pg_last_wal_replay_lsn()::text, coalesce(pg_last_xact_replay_timestamp()::text, ''), "
        "(SELECT timeline_id FROM pg_control_checkpoint())");
    if (!rows.ok() || rows->empty()) continue;
    const pg::Row& r = (*rows)[0];
    bool in_recovery = r[0].value_or("") == "t";
    report.stop_lsn = r[2].value_or("");
    report.stop_time = r[3].value_or("");
    report.timeline = static_cast<uint32_t>(std::strtoul(r[4].value_or("0").c_str(), nullptr, 10));
    if (!in_recovery) {
      auto tli = (*session)->Scalar("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)");
      if (tli.ok())
        report.timeline = static_cast<uint32_t>(std::strtoul(tli->c_str(), nullptr, 16));
      report.outcome = "promoted";
      // archive-get's prefetch queue (docs/pitr.md) serves nothing once recovery is over.
      std::error_code ignored;
      std::filesystem::remove_all(o.pgdata + "/pg_wal/pgvault-prefetch", ignored);
    } else if (r[1].value_or("") == "paused") {
      report.outcome = "paused at the target (run SELECT pg_wal_replay_resume() to promote)";
    } else if (o.standby) {
      report.outcome = "running as a standby";
    } else {
      continue;
    }
    report.seconds = MonotonicSeconds() - t0;
    std::string log_text = ReadText(log_path);
    report.stop_detail = LastLogLine(log_text, "recovery stopping");
    if (report.stop_detail.empty()) report.stop_detail = LastLogLine(log_text, "redo done at");
    return report;
  }

  // The server is gone: either it shut down at the target as asked, or recovery failed.
  report.seconds = MonotonicSeconds() - t0;
  return ServerGone(o, log_path, std::move(report));
}

std::string ReportLine(const RecoveryReport& r) {
  std::string line = fmt::format("recovery {} after {:.1f} s: last replayed lsn {}", r.outcome,
                                 r.seconds, r.stop_lsn.empty() ? "-" : r.stop_lsn);
  if (!r.stop_time.empty()) line += fmt::format(", last transaction at {}", r.stop_time);
  if (r.timeline) line += fmt::format(", timeline {}", r.timeline);
  if (!r.stop_detail.empty()) line += fmt::format("\n  server: {}", r.stop_detail);
  return line;
}

}  // namespace pgvault::restore

#include "drill/drill.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "common/time.h"
#include "drill/checks.h"
#include "drill/leftovers.h"
#include "repo/catalog.h"

namespace pgvault::drill {
namespace {

namespace fs = std::filesystem;
using repo::DrillCheck;

// A free TCP port on 127.0.0.1, as the kernel hands one out.
Result<int> FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Io("cannot create a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  if (port == 0) return Status::Io("cannot find a free port on 127.0.0.1");
  return port;
}

// The scratch directory: the given one (new or empty), else a new one under $TMPDIR.
Result<std::string> MakeScratch(const std::string& requested) {
  std::error_code ec;
  if (requested.empty()) {
    for (const auto& line : CleanLeftoverScratch(DrillTempDir()))
      log::Warn("cleaned up after a killed drill: {}", line);
    std::string pattern = fmt::format("{}/pgvault-drill-XXXXXX", DrillTempDir());
    if (!::mkdtemp(pattern.data()))
      return std::move(Status::Io(fmt::format("cannot create a scratch directory '{}'", pattern)))
          .WithHint("set TMPDIR or pass --scratch DIR");
    PGV_RETURN_IF_ERROR(WriteDrillPid(pattern));
    return pattern;
  }
  std::string dir = fs::absolute(requested, ec).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    return Status::Io(fmt::format("cannot create the scratch directory '{}'", dir));
  if (!fs::is_empty(dir, ec))
    return std::move(
               Status::InvalidArgument(fmt::format("scratch directory '{}' is not empty", dir)))
        .WithHint("pass --scratch with a new or empty directory");
  ::chmod(dir.c_str(), 0700);
  return dir;
}

// Safe settings, appended last to postgresql.auto.conf so they win over the source's: no
// archiving, no TCP clients (pg_hba admits the local socket only), the socket in the scratch
// directory, no synchronous standby to wait for.
Status WriteScratchSettings(const std::string& scratch, const std::string& pgdata) {
  std::ofstream hba(scratch + "/pg_hba.conf");
  hba << "# pgvault drill: only the scratch directory's unix socket\nlocal all all trust\n";
  if (!fs::exists(pgdata + "/postgresql.conf")) std::ofstream(pgdata + "/postgresql.conf").flush();
  std::ofstream conf(pgdata + "/postgresql.auto.conf", std::ios::app);
  conf << "# pgvault drill\n"
       << "listen_addresses = '127.0.0.1'\n"
       << fmt::format("unix_socket_directories = '{}'\n", scratch)
       << fmt::format("hba_file = '{}/pg_hba.conf'\n", scratch)
       << "archive_mode = off\narchive_command = ''\nsynchronous_standby_names = ''\n"
       << "shared_preload_libraries = ''\n";
  if (!hba || !conf)
    return Status::Io(fmt::format("cannot write the drill's settings into '{}'", pgdata));
  return Status::Ok();
}

// pg_ctl refuses root: the restored tree is handed to postgres, who runs the server.
std::string HandToPostgres(const std::string& scratch) {
  if (::geteuid() != 0) return "";
  passwd* pw = ::getpwnam("postgres");
  if (!pw) return "";
  std::error_code ec;
  int failed = ::chown(scratch.c_str(), pw->pw_uid, pw->pw_gid) != 0;
  for (auto it = fs::recursive_directory_iterator(scratch, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec))
    failed += ::lchown(it->path().c_str(), pw->pw_uid, pw->pw_gid) != 0;
  if (failed) log::Warn("could not hand {} files of '{}' to postgres", failed, scratch);
  return "postgres";
}

std::string RecoveryValue(const restore::RecoveryReport& r) {
  std::string v = fmt::format("{} at lsn {}", r.outcome, r.stop_lsn.empty() ? "-" : r.stop_lsn);
  if (!r.stop_time.empty()) v += fmt::format(", last transaction at {}", r.stop_time);
  return v;
}

struct Run {
  const DrillOptions& options;
  DrillResult& result;
  std::string pgdata;
  int port = 0;
  int pg_version = 0;
  std::string run_as;
};

// Restore into the scratch directory; tablespaces go beside the data directory.
Status RestoreStep(repo::Repository& repo, Run& run, Progress& progress) {
  restore::RestoreOptions ro{.pgdata = run.pgdata,
                             .backup_id = run.result.backup_id,
                             .target = run.options.target,
                             .archive_mode_off = true,
                             .port = run.port,
                             .jobs = run.options.jobs,
                             .restore_command = run.options.restore_command};
  if (ro.target.kind != restore::RecoveryTarget::Kind::kEndOfWal) ro.target.action = "promote";
  PGV_ASSIGN_OR_RETURN(auto manifest, repo.OpenManifest(run.result.backup_id));
  for (const auto& ts : manifest->header().tablespaces)
    ro.tablespace_map[ts.oid] = fmt::format("{}/tablespaces/{}", run.result.scratch, ts.oid);
  double t0 = MonotonicSeconds();
  PGV_ASSIGN_OR_RETURN(auto restored, restore::RunRestore(repo, ro, progress));
  run.result.record.restore_seconds = MonotonicSeconds() - t0;
  run.pg_version = restored.pg_version;
  PGV_RETURN_IF_ERROR(WriteScratchSettings(run.result.scratch, run.pgdata));
  run.run_as = HandToPostgres(run.result.scratch);
  return Status::Ok();
}

// Restore, recover, check; every outcome lands in the record's checks.
void DrillSteps(repo::Repository& repo, Run& run, const std::vector<UserCheck>& user_checks,
                Progress& progress) {
  auto& record = run.result.record;
  if (Status s = RestoreStep(repo, run, progress); !s.ok()) {
    record.checks.push_back({.name = "restore", .value = s.message()});
    return;
  }
  record.checks.push_back(
      {.name = "restore", .passed = true, .value = "ok", .seconds = record.restore_seconds});
  restore::StartOptions so{.pgdata = run.pgdata,
                           .host = run.result.scratch,
                           .port = run.port,
                           .user = run.options.user,
                           .pg_version = run.pg_version,
                           .run_as = run.run_as,
                           .unset_env = run.options.server_unset_env};
  auto recovered = restore::StartAndFollow(so);
  if (!recovered.ok()) {
    record.checks.push_back({.name = "recovery", .value = recovered.status().message()});
    return;
  }
  record.replay_seconds = recovered->seconds;
  record.rto_seconds = record.restore_seconds + record.replay_seconds;
  bool promoted = recovered->outcome == "promoted";
  record.checks.push_back({.name = "recovery",
                           .passed = promoted,
                           .value = RecoveryValue(*recovered),
                           .seconds = recovered->seconds});
  if (!promoted) return;
  ScratchServer server{.socket_dir = run.result.scratch,
                       .port = run.port,
                       .user = run.options.user,
                       .pg_version = run.pg_version};
  double t0 = MonotonicSeconds();
  auto automatic = RunAutomaticChecks(server);
  auto user = RunUserChecks(server, user_checks);
  record.checks.insert(record.checks.end(), automatic.begin(), automatic.end());
  record.checks.insert(record.checks.end(), user.begin(), user.end());
  record.checks_seconds = MonotonicSeconds() - t0;
}

void Finish(repo::Repository& repo, Run& run) {
  auto& record = run.result.record;
  if (Status s = restore::StopServer(run.pgdata); !s.ok()) log::Warn("{}", s.message());
  if (run.options.keep) {
    // Kept on purpose: the next drill must not take it for a killed drill's leftover.
    std::error_code ec;
    fs::remove(run.result.scratch + "/drill.pid", ec);
  } else {
    std::error_code ec;
    fs::remove_all(run.result.scratch, ec);
    if (ec)
      log::Warn("cannot remove the scratch directory '{}': {}", run.result.scratch, ec.message());
  }
  record.passed = !record.checks.empty();
  for (const auto& c : record.checks) {
    if (c.passed) continue;
    record.passed = false;
    if (record.failed.empty()) record.failed = fmt::format("'{}': {}", c.name, c.value);
  }
  repo::CatalogRecord catalog{.backup_id = run.result.backup_id,
                              .kind = repo::RecordKind::kDrill,
                              .time_unix_micros = NowUnixMicros(),
                              .body = repo::DrillRecordToJson(record)};
  Status s = repo::AppendCatalogRecord(repo, catalog);
  run.result.recorded = s.ok();
  if (!s.ok()) log::Warn("cannot record the drill in the catalog: {}", s.message());
}

}  // namespace

Result<DrillResult> RunDrill(repo::Repository& repo, const DrillOptions& options,
                             Progress& progress) {
  std::vector<UserCheck> user_checks;
  if (!options.checks_file.empty()) {
    PGV_ASSIGN_OR_RETURN(user_checks, LoadChecks(options.checks_file));
  }
  DrillResult result;
  result.record.time = FormatIsoMicros(NowUnixMicros());
  restore::RecoveryTarget target = options.target;
  PGV_RETURN_IF_ERROR(restore::ValidateTarget(target));
  result.record.target = restore::DescribeTarget(target);
  PGV_ASSIGN_OR_RETURN(auto plan, restore::ChooseBackup(repo, target, options.backup_id));
  result.backup_id = plan.backup_id;
  PGV_ASSIGN_OR_RETURN(result.scratch, MakeScratch(options.scratch));
  Run run{.options = options, .result = result, .pgdata = result.scratch + "/pgdata"};
  auto port = FreeLoopbackPort();
  if (!port.ok()) {
    result.record.checks.push_back({.name = "port", .value = port.status().message()});
  } else {
    run.port = *port;
    DrillSteps(repo, run, user_checks, progress);
  }
  Finish(repo, run);
  return result;
}

std::string FormatText(const DrillResult& r) {
  const auto& d = r.record;
  std::string out = fmt::format("drill of backup {} ({}):\n", r.backup_id, d.target);
  for (const auto& c : d.checks) {
    out += fmt::format("  {} {}: {}", c.passed ? "ok  " : "FAIL", c.name, c.value);
    if (!c.detail.empty()) out += fmt::format(" ({})", c.detail);
    out += "\n";
  }
  out += fmt::format(
      "restore {:.1f} s, WAL replay {:.1f} s, checks {:.1f} s; RTO {:.1f} s (restore + replay)\n",
      d.restore_seconds, d.replay_seconds, d.checks_seconds, d.rto_seconds);
  out += d.passed ? "drill: PASSED" : fmt::format("drill: FAILED: {}", d.failed);
  if (!r.recorded) out += "\n(the drill could not be recorded in the catalog)";
  return out;
}

}  // namespace pgvault::drill

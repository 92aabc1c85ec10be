#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "archive/archive.h"
#include "backup/backup.h"
#include "check/check.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/help.h"
#include "cli/progress_bar.h"
#include "cli/report_output.h"
#include "cli/restore_cli.h"
#include "cli/retention_cli.h"
#include "common/log.h"
#include "common/time.h"
#include "config/forward.h"
#include "daemon/daemon.h"
#include "drill/drill.h"
#include "info/catalog_export.h"
#include "info/info.h"
#include "repo/repository.h"
#include "repo/sync.h"
#include "restore/restore.h"
#include "retention/expire.h"
#include "retention/gc.h"
#include "storage/replicated/replicated_storage.h"
#include "storage/storage.h"
#include "stream/wal_stream.h"
#include "verify/verify.h"

namespace pgvault::cli {
namespace {

struct Command {
  config::Command id;
  std::function<Status(Options&)> run;
};

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

repo::Secret SecretFrom(const Options& o) {
  return repo::Secret{.passphrase = Getenv("PGVAULT_PASSPHRASE"),
                      .key_file_path = o.key_file,
                      .cache_kek = o.key_cache != "off"};
}

storage::OpenOptions StorageOptions(const Options& o) {
  return storage::OpenOptions{
      .s3_endpoint = o.s3_endpoint,
      .s3_region = o.s3_region,
      .s3_uri_style = o.s3_uri_style,
      .s3_ca_file = o.s3_ca_file,
      .s3_storage_class = o.s3_storage_class,
      .s3_timeout_s = o.s3_timeout,
      // Lock headers are only sent for retained backups; the bucket decides.
      .s3_object_lock = true};
}

// Replica 1 is --repo, replica 2 is --repo2 (with its own S3 endpoint and region if given).
// create: the location may be made (repo-create, repo-sync into a new replica).
Result<std::unique_ptr<storage::Storage>> OpenReplica(const Options& o, int number,
                                                      bool create = false) {
  storage::OpenOptions options = StorageOptions(o);
  options.create = create;
  if (number == 1) return storage::OpenStorage(o.repo, options);
  if (o.repo2.empty())
    return std::move(Status::Config("no second repository given"))
        .WithHint("pass --repo2 LOCATION or set 'repo2' in the config file");
  if (!o.repo2_s3_endpoint.empty()) options.s3_endpoint = o.repo2_s3_endpoint;
  if (!o.repo2_s3_region.empty()) options.s3_region = o.repo2_s3_region;
  return storage::OpenStorage(o.repo2, options);
}

// The repository as commands see it: one location, or both replicas behind one Storage.
Result<std::unique_ptr<storage::Storage>> OpenRepoStorage(const Options& o) {
  PGV_ASSIGN_OR_RETURN(auto first, OpenReplica(o, 1));
  if (o.repo2.empty()) return first;
  PGV_ASSIGN_OR_RETURN(auto second, OpenReplica(o, 2));
  std::vector<std::unique_ptr<storage::Storage>> replicas;
  replicas.push_back(std::move(first));
  replicas.push_back(std::move(second));
  auto policy = o.write_policy == "any" ? storage::WritePolicy::kAny : storage::WritePolicy::kAll;
  return std::unique_ptr<storage::Storage>(
      new storage::ReplicatedStorage(std::move(replicas), policy));
}

Result<std::unique_ptr<repo::Repository>> OpenRepo(const Options& o) {
  PGV_ASSIGN_OR_RETURN(auto storage, OpenRepoStorage(o));
  return repo::Repository::Open(std::move(storage), SecretFrom(o));
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "pgvault";
}

std::unique_ptr<Progress> MakeProgress(const char* label) {
  if (::isatty(STDERR_FILENO)) return std::make_unique<ProgressBar>(label);
  return std::make_unique<NoProgress>();
}

Status NeedArgs(const Options& o, size_t n, const char* usage) {
  if (o.positional.size() != n)
    return std::move(Status::InvalidArgument(fmt::format("wrong number of arguments")))
        .WithHint(fmt::format("usage: pgvault {}", usage));
  return Status::Ok();
}

Status CmdRepoCreate(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto storage, OpenReplica(o, 1, true));
  repo::RepoParams params;
  params.encrypted = o.cipher != "none";
  pipeline::ParseCompression(o.compress, params.compression);
  params.compression_level = o.compress_level;
  params.block_size = o.block_size_kib * 1024;
  params.pack_size = static_cast<uint64_t>(o.pack_size_mib) << 20;
  params.object_lock = o.object_lock;
  PGV_RETURN_IF_ERROR(repo::Repository::Create(*storage, params, SecretFrom(o)));
  std::cout << fmt::format(
      "created repository '{}' (cipher {}, compression {}, block size {} KiB)\n",
      storage->Describe(), o.cipher, o.compress, o.block_size_kib);
  if (!o.repo2.empty()) {
    // The replica gets the same identity and keys, copied by repo-sync.
    PGV_ASSIGN_OR_RETURN(auto second, OpenReplica(o, 2, true));
    PGV_ASSIGN_OR_RETURN(auto second_list, second->List(""));
    if (!second_list.empty())
      return std::move(Status::Conflict(fmt::format("'{}' is not empty", second->Describe())))
          .WithHint("create the replica in an empty location, or add it later with repo-sync");
    PGV_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(storage), SecretFrom(o)));
    PGV_ASSIGN_OR_RETURN(auto stats, repo::SyncRepository(*repo, *second, o.jobs));
    std::cout << fmt::format("created replica '{}' ({} objects)\n", second->Describe(),
                             stats.objects_copied);
  }
  return Status::Ok();
}

Status CmdRepoSync(Options& o) {
  if (o.sync_from == o.sync_to)
    return Status::InvalidArgument("--from and --to name the same repository");
  PGV_ASSIGN_OR_RETURN(auto source, OpenReplica(o, o.sync_from));
  PGV_ASSIGN_OR_RETURN(auto target, OpenReplica(o, o.sync_to, true));
  PGV_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(source), SecretFrom(o)));
  PGV_ASSIGN_OR_RETURN(auto stats, repo::SyncRepository(*repo, *target, o.jobs));
  std::cout << fmt::format(
      "repo-sync '{}' -> '{}': {} objects copied ({:.1f} MB), {} already there\n", repo->Describe(),
      target->Describe(), stats.objects_copied, stats.bytes_copied / 1e6, stats.objects_present);
  return Status::Ok();
}

Status CmdKeyAdd(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  repo::Secret fresh{.passphrase = Getenv("PGVAULT_NEW_PASSPHRASE"),
                     .key_file_path = o.new_key_file};
  PGV_RETURN_IF_ERROR(repo::AddKey(*repo, fresh));
  std::cout << "added a key to repository '" << repo->Describe() << "'\n";
  return Status::Ok();
}

Status CmdBackup(Options& o) {
  if (o.positional.size() > 1) return NeedArgs(o, 1, "backup [pin|unpin --backup ID]");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  if (!o.positional.empty()) return PinCommand(*repo, o);
  PGV_ASSIGN_OR_RETURN(auto tiers, TierOptionsFrom(o));
  backup::BackupOptions bo{.pgdata = o.pgdata,
                           .conn = {.host = o.pg_host, .port = o.pg_port, .user = o.pg_user},
                           .jobs = o.jobs,
                           .archive_timeout_seconds = o.archive_timeout,
                           .checksum_page = o.checksum_page != "off",
                           .full_scan = o.full_scan,
                           .tiers = tiers};
  // The option table allows only the three names.
  ParseDirectIo(o.direct_io, bo.direct_io);
  if (o.retain_days > 0)
    bo.retain_until_unix = NowUnixMicros() / 1000000 + static_cast<int64_t>(o.retain_days) * 86400;
  auto progress = MakeProgress("backup");
  PGV_ASSIGN_OR_RETURN(auto result, backup::RunBackup(*repo, bo, *progress));
  if (o.stats) std::cout << backup::StatsLine(result) << "\n";
  // The summary stays the last line (scripts read the backup id from it).
  std::cout << retention::TierLine(result.header, tiers.policy) << "\n";
  std::cout << backup::PlacementLine(result, o.s3_storage_class) << "\n";
  std::cout << backup::SummaryLine(result) << "\n";
  if (uint64_t failed = result.header.stats.pages_failed; failed > 0)
    return std::move(
               Status::Warning(fmt::format(
                   "backup {} is complete, but {} data page{} failed {} checksum (listed above; "
                   "'pgvault info' lists them)",
                   result.backup_id, failed, failed == 1 ? "" : "s",
                   failed == 1 ? "its" : "their")))
        .WithHint(
            "the cluster's files are damaged: check the storage, then restore the damaged "
            "relations from an earlier backup or rebuild them; --checksum-page=off skips the "
            "check");
  return Status::Ok();
}

Status CmdRestore(Options& o) {
  // What the command line alone can tell is checked before the repository is opened.
  restore::RestoreOptions ro{.pgdata = o.pgdata, .backup_id = o.backup, .jobs = o.jobs};
  ro.delta = o.delta || o.delta_by_time;
  ro.delta_by_time = o.delta_by_time;
  ro.direct_io = o.direct_io != "off";
  PGV_RETURN_IF_ERROR(FillRestoreTarget(o, ro));
  for (const auto& m : o.tablespace_map) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      return std::move(Status::InvalidArgument(fmt::format("bad --tablespace-map '{}'", m)))
          .WithHint("use --tablespace-map OID=DIR");
    ro.tablespace_map[m.substr(0, eq)] = config::AbsolutePath(m.substr(eq + 1));
  }
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  // restore_command names the repository and how to unlock it, never the passphrase itself.
  ro.restore_command = config::RestoreCommand(SelfPath(), o);
  auto progress = MakeProgress("restore");
  PGV_ASSIGN_OR_RETURN(auto result, restore::RunRestore(*repo, ro, *progress));
  if (!result.note.empty()) std::cout << result.note << "\n";
  std::cout << restore::SummaryLine(result) << "\n";
  // Said after a successful restore, so that it never precedes an error as if it were the cause.
  // (A config file never holds the passphrase; a key-file it names is in o.key_file.)
  if (repo->config().params.encrypted && o.key_file.empty())
    log::Warn(
        "restore_command relies on PGVAULT_PASSPHRASE in the server's environment; "
        "a --key-file avoids that");
  if (!o.start) return Status::Ok();
  if (ro.archive_mode_off && o.archive_mode.empty())
    std::cout << "archive_mode = off in the restored cluster: it does not archive into this "
                 "repository (--archive-mode preserve keeps the source's archive_command)\n";
  std::cout.flush();
  restore::StartOptions so{.pgdata = config::AbsolutePath(o.pgdata),
                           .host = o.pg_host,
                           .port = o.pg_port,
                           .user = o.pg_user,
                           .pg_version = result.pg_version,
                           .standby = ro.standby,
                           .unset_env = config::ServerEnvToDrop(o, repo->config().params.encrypted,
                                                                ro.archive_mode_off)};
  PGV_ASSIGN_OR_RETURN(auto report, restore::StartAndFollow(so));
  std::cout << restore::ReportLine(report) << "\n";
  return Status::Ok();
}

Status CmdArchivePush(Options& o) {
  PGV_RETURN_IF_ERROR(NeedArgs(o, 1, "archive-push PATH"));
  if (o.archive_async) {
    archive::AsyncOptions ao{.spool_path = config::AbsolutePath(o.spool_path),
                             .timeout_seconds = static_cast<double>(o.archive_timeout),
                             .jobs = o.jobs};
    PGV_ASSIGN_OR_RETURN(std::string what, archive::ArchivePushAsync(o.positional[0], ao,
                                                                     [o] { return OpenRepo(o); }));
    log::Info("{}", what);
    return Status::Ok();
  }
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(std::string what, archive::ArchivePush(*repo, o.positional[0]));
  log::Info("{}", what);
  return Status::Ok();
}

Status CmdArchiveGet(Options& o) {
  PGV_RETURN_IF_ERROR(NeedArgs(o, 2, "archive-get NAME DEST"));
  archive::GetOptions go{.prefetch = o.prefetch, .jobs = o.jobs};
  return archive::ArchiveGetPrefetch(o.positional[0], o.positional[1], go,
                                     [o] { return OpenRepo(o); });
}

// --backup latest: the newest backup's id; any other value as given.
Result<std::string> ResolveBackup(repo::Repository& repo, const std::string& backup) {
  if (backup != "latest") return backup;
  PGV_ASSIGN_OR_RETURN(auto ids, repo.ListBackups());
  if (ids.empty())
    return std::move(
               Status::NotFound(fmt::format("repository '{}' holds no backup", repo.Describe())))
        .WithHint("take one with 'pgvault backup'");
  return ids.back();
}

Status CmdVerify(Options& o) {
  if (!o.repo2.empty())
    return std::move(Status::Config("verify checks one repository at a time"))
        .WithHint("run it once with --repo and once with the replica as --repo, without --repo2");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(std::string backup_id, ResolveBackup(*repo, o.backup));
  verify::VerifyOptions vo{.backup_id = backup_id, .jobs = o.jobs, .sample_percent = 100.0};
  if (o.sample > 0) vo.sample_percent = o.sample;
  PGV_ASSIGN_OR_RETURN(auto report, verify::Verify(*repo, vo));
  // Recorded before anything is printed: the catalog holds what the output says.
  PGV_RETURN_IF_ERROR(verify::RecordResults(*repo, report));
  std::cout << (o.json ? VerifyJson(report).dump(2) : verify::FormatText(report)) << "\n";
  if (size_t problems = report.problem_count(); problems > 0)
    return std::move(Status::Corruption(
                         fmt::format("verify found {} problem{} in the repository (listed above)",
                                     problems, problems == 1 ? "" : "s")))
        .WithHint(
            "restore from a replica with 'repo-sync', or take a new backup; 'expire' the "
            "damaged ones");
  return Status::Ok();
}

Status CmdDrill(Options& o) {
  restore::RestoreOptions ro;
  PGV_RETURN_IF_ERROR(FillRestoreTarget(o, ro));
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(std::string backup_id, ResolveBackup(*repo, o.backup));
  drill::DrillOptions d{.backup_id = backup_id,
                        .target = ro.target,
                        .checks_file = o.checks_file,
                        .scratch = o.scratch,
                        .keep = o.keep,
                        .jobs = o.jobs,
                        .user = o.pg_user.empty() ? "postgres" : o.pg_user,
                        .restore_command = config::RestoreCommand(SelfPath(), o),
                        .server_unset_env = config::ServerEnvToDrop(
                            o, repo->config().params.encrypted, /*archive_mode_off=*/true)};
  auto progress = MakeProgress("drill restore");
  PGV_ASSIGN_OR_RETURN(auto result, drill::RunDrill(*repo, d, *progress));
  std::cout << (o.json ? DrillJson(result).dump(2) : drill::FormatText(result)) << "\n";
  if (o.keep) std::cout << fmt::format("scratch directory kept: '{}'\n", result.scratch);
  if (!result.record.passed)
    return std::move(Status::CheckFailed(fmt::format("drill of backup '{}' failed: {}",
                                                     result.backup_id, result.record.failed)))
        .WithHint("see the checks above; rerun with --keep to inspect the restored cluster");
  return Status::Ok();
}

// check's options and thresholds from the resolved options (also the daemon's, per cluster).
Result<check::CheckOptions> CheckOptionsFrom(const Options& o) {
  check::CheckOptions co{.conn = {.host = o.pg_host, .port = o.pg_port, .user = o.pg_user},
                         .timeout_seconds = o.archive_timeout,
                         .repo_location = o.repo,
                         .spool_path = o.spool_path,
                         .scratch_path = o.scratch};
  if (!o.min_free_space.empty()) {
    PGV_ASSIGN_OR_RETURN(co.thresholds.min_free, check::ParseFreeSpace(o.min_free_space));
  }
  if (o.max_archive_lag > 0) co.thresholds.max_archive_lag_seconds = o.max_archive_lag;
  if (o.max_replication_lag > 0) co.thresholds.max_replication_lag_seconds = o.max_replication_lag;
  return co;
}

Result<check::CheckResult> RunHealthCheck(const Options& o) {
  PGV_ASSIGN_OR_RETURN(auto co, CheckOptionsFrom(o));
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  return check::RunCheck(*repo, co);
}

Status CmdCheck(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto result, RunHealthCheck(o));
  std::cout << (o.json ? CheckJson(result).dump(2) + "\n" : CheckText(result));
  PGV_RETURN_IF_ERROR(check::CriticalStatus(result.checks));
  if (result.missing_segments > 0)
    return std::move(
               Status::Corruption(fmt::format(
                   "archived WAL has {} missing segments, the first '{}'", result.missing_segments,
                   result.wal_gaps.empty() ? "" : result.wal_gaps[0])))
        .WithHint(
            "point-in-time recovery cannot cross a gap; take a new backup to start a "
            "continuous range");
  return Status::Ok();
}

Status CmdInfo(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto policy, PolicyFrom(o));
  PGV_ASSIGN_OR_RETURN(auto info, info::CollectInfo(*repo, policy));
  std::cout << (o.json ? InfoJson(info).dump(2) + "\n" : InfoText(info));
  return Status::Ok();
}

Status CmdExpire(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  if (o.backup.empty()) return ExpireByPolicy(*repo, o);
  if (o.dry_run)
    return std::move(Status::InvalidArgument("--dry-run plans by the retention policy"))
        .WithHint("leave out --backup to see what the policy would remove");
  PGV_ASSIGN_OR_RETURN(auto result, retention::ExpireBackup(*repo, o.backup, o.gc_grace));
  std::cout << retention::SummaryLine(result) << "\n";
  return Status::Ok();
}

Status CmdHold(Options& o) {
  PGV_RETURN_IF_ERROR(NeedArgs(o, 1, "hold set|clear --backup ID"));
  const std::string& action = o.positional[0];
  if (action != "set" && action != "clear")
    return std::move(Status::InvalidArgument(fmt::format("unknown hold action '{}'", action)))
        .WithHint("use: pgvault hold set|clear --backup ID");
  if (o.backup.empty())
    return std::move(Status::InvalidArgument("hold needs a backup")).WithHint("pass --backup ID");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto result, retention::SetHold(*repo, o.backup, action == "set"));
  std::cout << fmt::format("legal hold {} on {} objects of backup {}\n",
                           action == "set" ? "set" : "cleared", result.objects, o.backup);
  return Status::Ok();
}

Status CmdGc(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto result,
                       retention::RunGc(*repo, {.grace_seconds = o.gc_grace,
                                                .dry_run = o.dry_run,
                                                .repack = o.repack,
                                                .repack_threshold_percent = o.repack_threshold}));
  std::cout << (o.json ? GcJson(result).dump(2) + "\n" : retention::GcText(result));
  return Status::Ok();
}

Status CmdCatalogExport(Options& o) {
  if (o.db.empty())
    return std::move(Status::InvalidArgument("catalog-export needs the database to write to"))
        .WithHint(
            "pass --db CONNINFO (a libpq connection string; keep the password in ~/.pgpass "
            "or PGPASSWORD)");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto result, info::ExportCatalog(*repo, o.db));
  std::cout << fmt::format("catalog-export: {} backups inserted, {} updated in backup_catalog\n",
                           result.inserted, result.updated);
  if (result.damaged)
    log::Warn("{} damaged backups were exported with verification_status 'damaged: ...'",
              result.damaged);
  return Status::Ok();
}

volatile sig_atomic_t g_stop_signal = 0;
void OnStopSignal(int sig) { g_stop_signal = sig; }

// wal-stream's settings from the options; kConfig for a bad --partial-interval.
Result<stream::StreamOptions> StreamOptionsFrom(const Options& o) {
  double interval = 0;
  try {
    interval = std::stod(o.partial_interval);
  } catch (const std::exception&) {
    interval = -1;
  }
  if (!(interval >= 0.05 && interval <= 3600))
    return std::move(
               Status::Config(fmt::format("--partial-interval '{}' is not a number of seconds from "
                                          "0.05 to 3600",
                                          o.partial_interval)))
        .WithHint("e.g. --partial-interval 1 (the default) or 0.2");
  return stream::StreamOptions{.conn = {.host = o.pg_host, .port = o.pg_port, .user = o.pg_user},
                               .slot = o.slot,
                               .create_slot = o.create_slot,
                               .synchronous = o.synchronous,
                               .partial_interval = interval,
                               .spool_path = o.spool_path};
}

Status CmdWalStream(Options& o) {
  PGV_ASSIGN_OR_RETURN(stream::StreamOptions so, StreamOptionsFrom(o));
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  so.stop_requested = [] { return g_stop_signal != 0; };
  PGV_RETURN_IF_ERROR(stream::RunWalStream(*repo, so));
  log::Info("wal-stream stopped");
  return Status::Ok();
}

// The daemon runs its jobs through the command functions above: a scheduled backup is
// `pgvault backup` with the cluster's options; a scheduled expire applies the cluster's
// retention policy.
Status CmdDaemon(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto config, daemon::LoadDaemonConfig(o));
  daemon::Hooks hooks;
  hooks.jobs["backup"] = CmdBackup;
  hooks.jobs["verify"] = CmdVerify;
  hooks.jobs["expire"] = CmdExpire;  // by the cluster's retention policy
  hooks.jobs["drill"] = CmdDrill;
  hooks.stream = [](const Options& cluster, const std::function<bool()>& stop,
                    const std::function<void(const stream::StreamProgress&)>& progress) -> Status {
    PGV_ASSIGN_OR_RETURN(stream::StreamOptions so, StreamOptionsFrom(cluster));
    PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(cluster));
    so.stop_requested = stop;
    so.on_progress = progress;
    return stream::RunWalStream(*repo, so);
  };
  hooks.health_check = RunHealthCheck;  // before each scheduled backup
  hooks.collect_info = [](const Options& cluster) -> Result<info::RepoInfo> {
    PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(cluster));
    return info::CollectInfo(*repo);
  };
  return daemon::RunDaemon(config, hooks);
}

Status CmdVersion(Options&) {
  std::cout << "pgvault " << PGVAULT_VERSION << "\n";
  return Status::Ok();
}

const std::vector<Command>& Commands() {
  using C = config::Command;
  static const std::vector<Command> kCommands = {
      {C::kRepoCreate, CmdRepoCreate},
      {C::kBackup, CmdBackup},
      {C::kRestore, CmdRestore},
      {C::kArchivePush, CmdArchivePush},
      {C::kArchiveGet, CmdArchiveGet},
      {C::kInfo, CmdInfo},
      {C::kCheck, CmdCheck},
      {C::kVerify, CmdVerify},
      {C::kKeyAdd, CmdKeyAdd},
      {C::kRepoSync, CmdRepoSync},
      {C::kExpire, CmdExpire},
      {C::kHold, CmdHold},
      {C::kDrill, CmdDrill},
      {C::kGc, CmdGc},
      {C::kCatalogExport, CmdCatalogExport},
      {C::kDaemon, CmdDaemon},
      {C::kWalStream, CmdWalStream},
      {C::kVersion, CmdVersion},
  };
  return kCommands;
}

void PrintError(const Status& s) {
  std::cerr << (s.code() == Code::kWarning ? "warning: " : "error: ") << s.message() << "\n";
  if (!s.hint().empty()) std::cerr << "HINT: " << s.hint() << "\n";
  std::cerr.flush();
}

// The one place that reports how a run ended. archive-get speaks PostgreSQL's restore_command
// protocol: a file that is not archived is routine (end of WAL, timeline probing) and exits 1
// quietly; any other failure must stop recovery rather than end it early (exit above 125),
// except on a standby, which retries.
int Finish(const config::CommandSpec* command, const Status& s) {
  if (s.ok()) return 0;
  if (command && command->id == config::Command::kArchiveGet) {
    if (s.IsNotFound()) {
      log::Info("{}", s.message());
    } else {
      PrintError(s);
    }
    return ArchiveGetExitCode(s, archive::RunningForStandby());
  }
  PrintError(s);
  return ExitCode(s);
}

Status Run(const config::CommandSpec& spec, const Invocation& inv) {
  PGV_ASSIGN_OR_RETURN(
      Options o, config::Resolve(spec.id, inv.flags, [](const char* n) { return std::getenv(n); }));
  o.positional = inv.positional;
  log::Level level;
  log::ParseLevel(o.log_level, level);
  log::SetLevel(level);
  for (const auto& cmd : Commands()) {
    if (cmd.id != spec.id) continue;
    try {
      return cmd.run(o);
    } catch (const std::exception& ex) {
      return Status::Internal(fmt::format("internal error in {}: {}", spec.name, ex.what()));
    }
  }
  return Status::Internal(fmt::format("command '{}' has no entry point", spec.name));
}

}  // namespace

int Main(int argc, char** argv) {
  auto inv = ParseArgs(argc, argv);
  if (!inv.ok()) return Finish(nullptr, inv.status());
  if (inv->help_options) {
    std::cout << OptionsMarkdown();
    return 0;
  }
  if (inv->help) {
    std::cout << (inv->command ? CommandHelp(*inv->command) : GlobalHelp());
    return 0;
  }
  return Finish(inv->command, Run(*inv->command, *inv));
}

}  // namespace pgvault::cli

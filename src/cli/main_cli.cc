#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "archive/archive.h"
#include "backup/backup.h"
#include "check/check.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "common/log.h"
#include "common/time.h"
#include "info/info.h"
#include "repo/repository.h"
#include "repo/sync.h"
#include "restore/restore.h"
#include "retention/expire.h"
#include "storage/replicated/replicated_storage.h"
#include "storage/storage.h"
#include "verify/verify.h"

namespace pgvault::cli {
namespace {

struct Command {
  const char* name;
  const char* help;
  std::function<Status(Options&)> run;
};

// Adds an option once: the flag, its PGVAULT_* variable and its config-file key share one name.
template <typename T>
CLI::Option* Opt(CLI::App& app, const std::string& name, T& target, const std::string& help) {
  std::string env = "PGVAULT_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return app.add_option("--" + name, target, help)->envname(env);
}

void AddOptions(CLI::App& app, Options& o) {
  Opt(app, "repo", o.repo, "repository: a directory or s3://BUCKET/PREFIX")->group("Repository");
  Opt(app, "key-file", o.key_file,
      "file whose contents unlock the repository (else PGVAULT_PASSPHRASE)")
      ->group("Repository");
  Opt(app, "new-key-file", o.new_key_file,
      "key-add: the new key file (else PGVAULT_NEW_PASSPHRASE)")
      ->group("Repository");
  Opt(app, "cipher", o.cipher, "repo-create: aes-256-gcm (default) or none")
      ->check(CLI::IsMember({"aes-256-gcm", "none"}))
      ->group("Repository");
  Opt(app, "compress", o.compress, "repo-create: zstd (default), lz4 or none")
      ->check(CLI::IsMember({"zstd", "lz4", "none"}))
      ->group("Repository");
  Opt(app, "compress-level", o.compress_level, "repo-create: compression level (zstd 1-19)")
      ->check(CLI::Range(1, 19))
      ->group("Repository");
  Opt(app, "block-size", o.block_size_kib, "repo-create: block size in KiB (8-4096, default 128)")
      ->check(CLI::Range(8, 4096))
      ->group("Repository");
  Opt(app, "pack-size", o.pack_size_mib, "repo-create: target pack size in MiB")
      ->check(CLI::Range(1, 1024))
      ->group("Repository");
  Opt(app, "repo2", o.repo2, "a replica of the repository (another region or provider)")
      ->group("Repository");
  Opt(app, "repo2-s3-endpoint", o.repo2_s3_endpoint,
      "S3 endpoint of repo2 (default: --s3-endpoint)")
      ->group("S3");
  Opt(app, "repo2-s3-region", o.repo2_s3_region, "S3 region of repo2 (default: --s3-region)")
      ->group("S3");
  Opt(app, "write-policy", o.write_policy,
      "with repo2: backup/archive-push succeed when 'all' (default) or 'any' replica stored the "
      "data")
      ->check(CLI::IsMember({"all", "any"}))
      ->group("Repository");
  app.add_flag("--object-lock", o.object_lock,
               "repo-create: the S3 bucket has Object Lock; backups may be retained")
      ->group("Repository");
  Opt(app, "retain-days", o.retain_days,
      "backup: lock everything the backup needs (COMPLIANCE) for this many days")
      ->check(CLI::Range(1, 36500))
      ->group("Repository");
  Opt(app, "gc-grace", o.gc_grace,
      "expire: keep unreferenced packs younger than this many seconds (default 3600)")
      ->check(CLI::Range(0, 864000))
      ->group("Repository");
  Opt(app, "from", o.sync_from, "repo-sync: source replica number (1 or 2)")
      ->check(CLI::Range(1, 2))
      ->group("Repository");
  Opt(app, "to", o.sync_to, "repo-sync: target replica number (1 or 2)")
      ->check(CLI::Range(1, 2))
      ->group("Repository");
  Opt(app, "s3-endpoint", o.s3_endpoint, "S3 endpoint URL")->group("S3");
  Opt(app, "s3-region", o.s3_region, "S3 region")->group("S3");
  Opt(app, "s3-uri-style", o.s3_uri_style, "S3 addressing: path or host")
      ->check(CLI::IsMember({"path", "host"}))
      ->group("S3");
  Opt(app, "s3-ca-file", o.s3_ca_file, "CA bundle for TLS verification")->group("S3");
  Opt(app, "s3-storage-class", o.s3_storage_class, "S3 storage class for new objects")->group("S3");
  Opt(app, "pgdata", o.pgdata, "PostgreSQL data directory (backup: source, restore: target)")
      ->group("PostgreSQL");
  Opt(app, "pg-host", o.pg_host, "host or unix socket directory")->group("PostgreSQL");
  Opt(app, "pg-port", o.pg_port, "port")->check(CLI::Range(1, 65535))->group("PostgreSQL");
  Opt(app, "pg-user", o.pg_user, "user (a superuser or one with backup privileges)")
      ->group("PostgreSQL");
  Opt(app, "jobs", o.jobs, "parallel workers for backup and restore")
      ->check(CLI::Range(1, 256))
      ->group("Performance");
  Opt(app, "archive-timeout", o.archive_timeout,
      "backup: seconds to wait for the last WAL segment to be archived; archive-push "
      "--archive-async: seconds to wait for the background pusher")
      ->check(CLI::Range(1, 86400))
      ->group("PostgreSQL");
  Opt(app, "backup", o.backup,
      "restore: backup id (default: the newest); verify, expire, hold: the backup")
      ->group("Restore");
  Opt(app, "tablespace-map", o.tablespace_map, "restore: OID=DIR, restore a tablespace elsewhere")
      ->group("Restore");
  Opt(app, "target-time", o.target_time, "restore: recover to this time (with zone, e.g. +00)")
      ->group("Restore");
  Opt(app, "target-lsn", o.target_lsn, "restore: recover to this WAL position")->group("Restore");
  Opt(app, "target-xid", o.target_xid, "restore: recover to this transaction's commit")
      ->group("Restore");
  Opt(app, "target-name", o.target_name, "restore: recover to this pg_create_restore_point name")
      ->group("Restore");
  app.add_flag("--target-immediate", o.target_immediate,
               "restore: stop as soon as the backup is consistent")
      ->group("Restore");
  Opt(app, "target-inclusive", o.target_inclusive,
      "restore: stop after (true) or before the target")
      ->check(CLI::IsMember({"true", "false"}))
      ->group("Restore");
  Opt(app, "target-action", o.target_action, "restore: at the target: promote, pause or shutdown")
      ->check(CLI::IsMember({"promote", "pause", "shutdown"}))
      ->group("Restore");
  Opt(app, "target-timeline", o.target_timeline, "restore: latest, current or a timeline number")
      ->group("Restore");
  Opt(app, "type", o.type, "restore: default, or standby (standby.signal)")
      ->check(CLI::IsMember({"default", "standby"}))
      ->group("Restore");
  Opt(app, "primary-conninfo", o.primary_conninfo, "restore --type standby: primary_conninfo")
      ->group("Restore");
  Opt(app, "archive-mode", o.archive_mode,
      "restore: preserve or off (archive_mode = off); default off with --start, else preserve")
      ->check(CLI::IsMember({"preserve", "off"}))
      ->group("Restore");
  app.add_flag("--start", o.start,
               "restore: start the cluster, follow recovery and report where it stopped")
      ->group("Restore");
  app.add_flag("--archive-async", o.archive_async,
               "archive-push: push ready segments ahead in a background process")
      ->group("Archive");
  Opt(app, "spool-path", o.spool_path,
      "archive-push --archive-async: local directory for the pusher's results and log")
      ->group("Archive");
  Opt(app, "prefetch", o.prefetch, "archive-get/restore: WAL segments to fetch ahead (0 = off)")
      ->check(CLI::Range(0, 1024))
      ->group("Archive");
  Opt(app, "log-level", o.log_level, "debug, info, warn (default), error or off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}))
      ->group("Output");
  app.add_flag("--json", o.json, "info: machine-readable output")->group("Output");
  app.add_flag("--stats", o.stats, "backup: print CPU seconds per pipeline stage")->group("Output");
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

repo::Secret SecretFrom(const Options& o) {
  return repo::Secret{.passphrase = Getenv("PGVAULT_PASSPHRASE"), .key_file_path = o.key_file};
}

storage::OpenOptions StorageOptions(const Options& o) {
  return storage::OpenOptions{
      .s3_endpoint = o.s3_endpoint,
      .s3_region = o.s3_region,
      .s3_uri_style = o.s3_uri_style,
      .s3_ca_file = o.s3_ca_file,
      .s3_storage_class = o.s3_storage_class,
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

std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.starts_with("s3://")) return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// Quotes one shell word; restore_command is run by /bin/sh.
std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty() && s.find_first_not_of(
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789/._-=:%+@,") == std::string::npos;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
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
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  backup::BackupOptions bo{.pgdata = o.pgdata,
                           .conn = {.host = o.pg_host, .port = o.pg_port, .user = o.pg_user},
                           .jobs = o.jobs,
                           .archive_timeout_seconds = o.archive_timeout};
  if (o.retain_days > 0)
    bo.retain_until_unix = NowUnixMicros() / 1000000 + static_cast<int64_t>(o.retain_days) * 86400;
  auto progress = MakeProgress("backup");
  PGV_ASSIGN_OR_RETURN(auto result, backup::RunBackup(*repo, bo, *progress));
  if (o.stats) std::cout << backup::StatsLine(result) << "\n";
  std::cout << backup::SummaryLine(result) << "\n";
  return Status::Ok();
}

// Recovery target flags -> RestoreOptions; at most one target kind.
Status FillRestoreTarget(const Options& o, restore::RestoreOptions& ro) {
  using Kind = restore::RecoveryTarget::Kind;
  auto& t = ro.target;
  int given = 0;
  auto set = [&](const std::string& value, Kind kind) {
    if (value.empty()) return;
    t.kind = kind, t.value = value;
    given++;
  };
  set(o.target_time, Kind::kTime);
  set(o.target_lsn, Kind::kLsn);
  set(o.target_xid, Kind::kXid);
  set(o.target_name, Kind::kName);
  if (o.target_immediate) t.kind = Kind::kImmediate, given++;
  if (given > 1)
    return std::move(Status::InvalidArgument("more than one recovery target given"))
        .WithHint(
            "use one of --target-time, --target-lsn, --target-xid, --target-name, "
            "--target-immediate");
  if (!o.target_inclusive.empty()) t.inclusive = o.target_inclusive == "true";
  t.action = o.target_action;
  t.timeline = o.target_timeline;
  ro.standby = o.type == "standby";
  if (!o.primary_conninfo.empty() && !ro.standby)
    return std::move(Status::InvalidArgument("--primary-conninfo needs --type standby"))
        .WithHint("add --type standby to build a replica");
  ro.primary_conninfo = o.primary_conninfo;
  // A cluster restore --start starts (a test, a rehearsal) does not archive into the source's
  // repository unless asked: its new timeline would be what the next PITR follows.
  ro.archive_mode_off =
      o.archive_mode == "off" || (o.archive_mode.empty() && o.start && !ro.standby);
  if (o.pg_port_given) ro.port = o.pg_port;
  return Status::Ok();
}

Status CmdRestore(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  restore::RestoreOptions ro{.pgdata = o.pgdata, .backup_id = o.backup, .jobs = o.jobs};
  PGV_RETURN_IF_ERROR(FillRestoreTarget(o, ro));
  for (const auto& m : o.tablespace_map) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      return std::move(Status::InvalidArgument(fmt::format("bad --tablespace-map '{}'", m)))
          .WithHint("use --tablespace-map OID=DIR");
    ro.tablespace_map[m.substr(0, eq)] = AbsolutePath(m.substr(eq + 1));
  }
  // restore_command names the repository and how to unlock it, never the passphrase itself.
  std::vector<std::string> words = {SelfPath(), "--repo", AbsolutePath(o.repo)};
  if (!o.config.empty()) words.insert(words.end(), {"--config", AbsolutePath(o.config)});
  if (!o.key_file.empty()) words.insert(words.end(), {"--key-file", AbsolutePath(o.key_file)});
  if (!o.s3_endpoint.empty()) words.insert(words.end(), {"--s3-endpoint", o.s3_endpoint});
  if (!o.s3_region.empty()) words.insert(words.end(), {"--s3-region", o.s3_region});
  if (!o.repo2.empty()) words.insert(words.end(), {"--repo2", AbsolutePath(o.repo2)});
  if (!o.repo2_s3_endpoint.empty())
    words.insert(words.end(), {"--repo2-s3-endpoint", o.repo2_s3_endpoint});
  if (!o.repo2_s3_region.empty())
    words.insert(words.end(), {"--repo2-s3-region", o.repo2_s3_region});
  if (o.prefetch > 0)
    words.insert(words.end(),
                 {"--prefetch", std::to_string(o.prefetch), "--jobs", std::to_string(o.jobs)});
  std::string cmd;
  for (const auto& w : words) cmd += ShellQuote(w) + " ";
  ro.restore_command = cmd + "archive-get %f \"%p\"";
  auto progress = MakeProgress("restore");
  PGV_ASSIGN_OR_RETURN(auto result, restore::RunRestore(*repo, ro, *progress));
  std::cout << restore::SummaryLine(result) << "\n";
  // Said after a successful restore, so that it never precedes an error as if it were the cause.
  if (repo->config().params.encrypted && o.key_file.empty() && o.config.empty())
    log::Warn(
        "restore_command relies on PGVAULT_PASSPHRASE in the server's environment; "
        "a --key-file avoids that");
  if (!o.start) return Status::Ok();
  if (ro.archive_mode_off && o.archive_mode.empty())
    std::cout << "archive_mode = off in the restored cluster: it does not archive into this "
                 "repository (--archive-mode preserve keeps the source's archive_command)\n";
  std::cout.flush();
  restore::StartOptions so{.pgdata = AbsolutePath(o.pgdata),
                           .host = o.pg_host,
                           .port = o.pg_port,
                           .user = o.pg_user,
                           .pg_version = result.pg_version,
                           .standby = ro.standby};
  PGV_ASSIGN_OR_RETURN(auto report, restore::StartAndFollow(so));
  std::cout << restore::ReportLine(report) << "\n";
  return Status::Ok();
}

Status CmdArchivePush(Options& o) {
  PGV_RETURN_IF_ERROR(NeedArgs(o, 1, "archive-push PATH"));
  if (o.archive_async) {
    archive::AsyncOptions ao{.spool_path = AbsolutePath(o.spool_path),
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
  Status s = archive::ArchiveGetPrefetch(o.positional[0], o.positional[1], go,
                                         [o] { return OpenRepo(o); });
  if (s.ok()) return s;
  // A file that is not archived is routine (end of WAL, timeline probing): exit 1 quietly.
  if (s.IsNotFound()) {
    log::Info("{}", s.message());
    std::exit(1);
  }
  // Anything else must stop recovery rather than end it early, except on a standby, which
  // retries.
  if (archive::RunningForStandby()) return s;
  std::cerr << "error: " << s.message() << "\n";
  if (!s.hint().empty()) std::cerr << "HINT: " << s.hint() << "\n";
  std::cerr.flush();
  std::exit(archive::kExitStopRecovery);
}

Status CmdVerify(Options& o) {
  if (!o.repo2.empty())
    return std::move(Status::Config("verify checks one repository at a time"))
        .WithHint("run it once with --repo and once with the replica as --repo, without --repo2");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto report, verify::Verify(*repo, {.backup_id = o.backup, .jobs = o.jobs}));
  std::cout << verify::FormatText(report) << "\n";
  if (size_t problems = report.problem_count(); problems > 0)
    return std::move(Status::Corruption(
                         fmt::format("verify found {} problem{} in the repository (listed above)",
                                     problems, problems == 1 ? "" : "s")))
        .WithHint(
            "restore from a replica with 'repo-sync', or take a new backup; 'expire' the "
            "damaged ones");
  return Status::Ok();
}

Status CmdCheck(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  check::CheckOptions co{.conn = {.host = o.pg_host, .port = o.pg_port, .user = o.pg_user},
                         .timeout_seconds = o.archive_timeout};
  PGV_ASSIGN_OR_RETURN(auto result, check::RunCheck(*repo, co));
  std::cout << (o.json ? result.dump(2) + "\n" : check::FormatText(result));
  if (result["missing_segments"].get<uint64_t>() > 0)
    return std::move(Status::Corruption(
                         fmt::format("archived WAL has {} missing segments, the first '{}'",
                                     result["missing_segments"].get<uint64_t>(),
                                     result["wal_gaps"][0].get<std::string>())))
        .WithHint(
            "point-in-time recovery cannot cross a gap; take a new backup to start a "
            "continuous range");
  return Status::Ok();
}

Status CmdInfo(Options& o) {
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
  PGV_ASSIGN_OR_RETURN(auto info, info::CollectInfo(*repo));
  std::cout << (o.json ? info.dump(2) + "\n" : info::FormatText(info));
  return Status::Ok();
}

Status CmdExpire(Options& o) {
  if (o.backup.empty())
    return std::move(Status::InvalidArgument("expire needs the backup to remove"))
        .WithHint("pass --backup ID (see pgvault info)");
  PGV_ASSIGN_OR_RETURN(auto repo, OpenRepo(o));
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

Status CmdVersion(Options&) {
  std::cout << "pgvault " << PGVAULT_VERSION << "\n";
  return Status::Ok();
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"repo-create", "create a repository (encrypted unless --cipher none)", CmdRepoCreate},
      {"backup", "back up a running cluster into the repository", CmdBackup},
      {"restore", "restore a backup into an empty directory, ready to recover", CmdRestore},
      {"archive-push", "archive_command: store one WAL file (PATH)", CmdArchivePush},
      {"archive-get", "restore_command: fetch WAL file NAME into DEST", CmdArchiveGet},
      {"info", "list backups and archived WAL", CmdInfo},
      {"check", "check that archive_command reaches the repository; report archive lag", CmdCheck},
      {"verify", "read back every block and WAL file (of one backup with --backup ID)", CmdVerify},
      {"key-add", "add a passphrase or key file that unlocks the repository", CmdKeyAdd},
      {"repo-sync", "copy what replica --to lacks from replica --from, verifying it", CmdRepoSync},
      {"expire", "remove a backup (--backup ID) and the data no other backup uses", CmdExpire},
      {"hold", "set|clear a legal hold on everything a backup (--backup ID) needs", CmdHold},
      {"version", "print the version", CmdVersion},
  };
  return kCommands;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  if (!s.hint().empty()) std::cerr << "HINT: " << s.hint() << "\n";
  return ExitCode(s);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"pgvault: backup and point-in-time recovery for PostgreSQL", "pgvault"};
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  AddOptions(app, o);
  app.set_config("--config", "", "TOML config file: option = value, names as the flags")
      ->envname("PGVAULT_CONFIG");
  const Command* chosen = nullptr;
  for (const auto& cmd : Commands()) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    sub->fallthrough();
    if (std::string(cmd.name).starts_with("archive-") || std::string(cmd.name) == "hold")
      sub->add_option("args", o.positional, "PATH, or NAME DEST");
    sub->callback([&chosen, &cmd] { chosen = &cmd; });
  }
  try {
    app.parse(argc, argv);
    o.pg_port_given = app.get_option("--pg-port")->count() > 0 || std::getenv("PGVAULT_PG_PORT");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Offer the nearest command name for a typo.
    for (int arg_idx = 1; arg_idx < argc; ++arg_idx) {
      std::string word = argv[arg_idx];
      if (word.starts_with("-")) continue;
      bool known = false;
      const Command* best = nullptr;
      size_t best_dist = 3;
      for (const auto& cmd : Commands()) {
        if (word == cmd.name) known = true;
        size_t d = EditDistance(word, cmd.name);
        if (d < best_dist) best_dist = d, best = &cmd;
      }
      if (!known && best) {
        std::cerr << fmt::format("error: unknown command '{}', did you mean '{}'?\n", word,
                                 best->name);
        return 2;
      }
      if (known) break;
    }
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::cerr << "error: " << what << "\nHINT: see 'pgvault --help'\n";
    return 2;
  }
  log::Level level;
  log::ParseLevel(o.log_level, level);
  log::SetLevel(level);
  if (!chosen) return Fail(Status::InvalidArgument("no command given"));
  try {
    Status s = chosen->run(o);
    return s.ok() ? 0 : Fail(s);
  } catch (const std::exception& ex) {
    return Fail(Status::Internal(fmt::format("internal error in {}: {}", chosen->name, ex.what())));
  }
}

}  // namespace pgvault::cli

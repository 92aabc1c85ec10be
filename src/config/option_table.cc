#include "config/option_table.h"

#include <algorithm>
#include <iterator>

namespace pgvault::config {
namespace {

using C = Command;
constexpr CommandSet kAll = kAllCommands;
// Every command that opens a repository.
constexpr CommandSet kRepo = kAll & ~Bit(C::kVersion);
constexpr CommandSet kPg = Bit(C::kBackup) | Bit(C::kRestore) | Bit(C::kCheck);
constexpr CommandSet kJobs = Bit(C::kRepoCreate) | Bit(C::kBackup) | Bit(C::kRestore) |
                             Bit(C::kArchivePush) | Bit(C::kArchiveGet) | Bit(C::kVerify) |
                             Bit(C::kRepoSync) | Bit(C::kDrill);
constexpr CommandSet kCreate = Bit(C::kRepoCreate);
constexpr CommandSet kRestore = Bit(C::kRestore);
constexpr CommandSet kDrill = Bit(C::kDrill);
// Recovery targets: restore, and drill, which restores and recovers the same way.
constexpr CommandSet kTarget = kRestore | kDrill;
constexpr CommandSet kPush = Bit(C::kArchivePush);
// The commands that apply or show the retention policy.
constexpr CommandSet kPolicy = Bit(C::kBackup) | Bit(C::kExpire) | Bit(C::kInfo);
constexpr CommandSet kDaemon = Bit(C::kDaemon);

std::vector<OptionSpec> RepositoryOptions() {
  using O = Options;
  return {
      // Repository
      {.name = "repo",
       .field = &O::repo,
       .commands = kRepo,
       .group = "Repository",
       .help = "repository: a directory or s3://BUCKET/PREFIX",
       .value_name = "LOCATION",
       .forward = Forward::kPath},
      {.name = "key-file",
       .field = &O::key_file,
       .commands = kRepo,
       .group = "Repository",
       .help = "file whose contents unlock the repository (else PGVAULT_PASSPHRASE); mode 0600",
       .value_name = "FILE",
       .forward = Forward::kPath},
      {.name = "new-key-file",
       .field = &O::new_key_file,
       .commands = Bit(C::kKeyAdd),
       .group = "Repository",
       .help = "the new key file (else PGVAULT_NEW_PASSPHRASE)",
       .value_name = "FILE"},
      {.name = "cipher",
       .field = &O::cipher,
       .default_value = "aes-256-gcm",
       .commands = kCreate,
       .group = "Repository",
       .help = "encryption of the new repository",
       .allowed = {"aes-256-gcm", "none"}},
  };
}

std::vector<OptionSpec> FormatOptions() {
  using O = Options;
  return {
      {.name = "compress",
       .field = &O::compress,
       .default_value = "zstd",
       .commands = kCreate,
       .group = "Repository",
       .help = "compression of the new repository",
       .allowed = {"zstd", "lz4", "none"}},
      {.name = "compress-level",
       .field = &O::compress_level,
       .default_value = "3",
       .commands = kCreate,
       .group = "Repository",
       .help = "compression level (zstd)",
       .min = 1,
       .max = 19},
      {.name = "block-size",
       .field = &O::block_size_kib,
       .default_value = "128",
       .commands = kCreate,
       .group = "Repository",
       .help = "block size in KiB",
       .value_name = "KIB",
       .min = 8,
       .max = 4096},
      {.name = "pack-size",
       .field = &O::pack_size_mib,
       .default_value = "32",
       .commands = kCreate,
       .group = "Repository",
       .help = "target pack size in MiB",
       .value_name = "MIB",
       .min = 1,
       .max = 1024},
      {.name = "object-lock",
       .field = &O::object_lock,
       .default_value = "false",
       .commands = kCreate,
       .group = "Repository",
       .help = "the S3 bucket has Object Lock; backups may be retained"},
  };
}

std::vector<OptionSpec> ReplicaAndRetentionOptions() {
  using O = Options;
  return {
      {.name = "repo2",
       .field = &O::repo2,
       .commands = kRepo,
       .group = "Repository",
       .help = "a replica of the repository (another region or provider)",
       .value_name = "LOCATION",
       .forward = Forward::kPath},
      {.name = "write-policy",
       .field = &O::write_policy,
       .default_value = "all",
       .commands = kRepo,
       .group = "Repository",
       .help = "with repo2: writes succeed when 'all' or 'any' replica stored the data",
       .allowed = {"all", "any"}},
      {.name = "retain-days",
       .field = &O::retain_days,
       .commands = Bit(C::kBackup),
       .group = "Repository",
       .help = "lock everything the backup needs (COMPLIANCE) for this many days",
       .value_name = "DAYS",
       .min = 1,
       .max = 36500},
      {.name = "gc-grace",
       .field = &O::gc_grace,
       .default_value = "3600",
       .commands = Bit(C::kExpire) | Bit(C::kGc),
       .group = "Repository",
       .help = "expire: keep unreferenced packs younger than this many seconds; gc: delete a pack "
               "only this long after a gc marked it",
       .value_name = "SECONDS",
       .min = 0,
       .max = 864000},
      // Retention (docs/user-guide.md, "Retention")
      {.name = "retention-daily",
       .field = &O::retention_daily,
       .commands = kPolicy,
       .group = "Retention",
       .help = "keep the first backup of each day this long (d, w, m or y, e.g. 30d)",
       .value_name = "SPAN"},
      {.name = "retention-weekly",
       .field = &O::retention_weekly,
       .commands = kPolicy,
       .group = "Retention",
       .help = "keep the first backup of each ISO week this long (e.g. 12w)",
       .value_name = "SPAN"},
      {.name = "retention-monthly",
       .field = &O::retention_monthly,
       .commands = kPolicy,
       .group = "Retention",
       .help = "keep the first backup of each month this long (e.g. 7y)",
       .value_name = "SPAN"},
      {.name = "retention-pitr",
       .field = &O::retention_pitr,
       .commands = kPolicy,
       .group = "Retention",
       .help = "point-in-time recovery window: its backups and WAL stay (e.g. 30d)",
       .value_name = "SPAN"},
      {.name = "retention-timezone",
       .field = &O::retention_timezone,
       .default_value = "UTC",
       .commands = kPolicy,
       .group = "Retention",
       .help = "time zone of the calendar days, weeks and months (tz database name)",
       .value_name = "ZONE"},
      {.name = "tier",
       .field = &O::tier,
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "the backup joins this tier whatever its date",
       .allowed = {"daily", "weekly", "monthly"}},
      {.name = "now",
       .field = &O::now,
       .commands = kPolicy,
       .group = "Retention",
       .help = "act as if it were this time (what-if planning, tests), e.g. 2027-06-01T00:00:00Z",
       .value_name = "TIMESTAMP"},
      {.name = "dry-run",
       .field = &O::dry_run,
       .default_value = "false",
       .commands = Bit(C::kExpire) | Bit(C::kGc),
       .group = "Retention",
       .help = "print what expire or gc would remove (gc: and mark), change nothing"},
      {.name = "db",
       .field = &O::db,
       .commands = Bit(C::kCatalogExport),
       .group = "Repository",
       .help = "PostgreSQL connection string of the database that holds table backup_catalog",
       .value_name = "CONNINFO"},
      {.name = "from",
       .field = &O::sync_from,
       .default_value = "1",
       .commands = Bit(C::kRepoSync),
       .group = "Repository",
       .help = "source replica number",
       .min = 1,
       .max = 2},
      {.name = "to",
       .field = &O::sync_to,
       .default_value = "2",
       .commands = Bit(C::kRepoSync),
       .group = "Repository",
       .help = "target replica number",
       .min = 1,
       .max = 2},
  };
}

std::vector<OptionSpec> S3Options() {
  using O = Options;
  return {
      // S3
      {.name = "s3-endpoint",
       .field = &O::s3_endpoint,
       .commands = kRepo,
       .group = "S3",
       .help = "S3 endpoint URL",
       .value_name = "URL",
       .forward = Forward::kValue},
      {.name = "s3-region",
       .field = &O::s3_region,
       .commands = kRepo,
       .group = "S3",
       .help = "S3 region",
       .forward = Forward::kValue},
      {.name = "s3-uri-style",
       .field = &O::s3_uri_style,
       .default_value = "path",
       .commands = kRepo,
       .group = "S3",
       .help = "S3 addressing",
       .allowed = {"path", "host"},
       .forward = Forward::kValue},
      {.name = "s3-ca-file",
       .field = &O::s3_ca_file,
       .commands = kRepo,
       .group = "S3",
       .help = "CA bundle for TLS verification",
       .value_name = "FILE",
       .forward = Forward::kPath},
      {.name = "s3-storage-class",
       .field = &O::s3_storage_class,
       .commands = kRepo,
       .group = "S3",
       .help = "S3 storage class for new objects",
       .value_name = "CLASS"},
      {.name = "repo2-s3-endpoint",
       .field = &O::repo2_s3_endpoint,
       .commands = kRepo,
       .group = "S3",
       .help = "S3 endpoint of repo2 (default: --s3-endpoint)",
       .value_name = "URL",
       .forward = Forward::kValue},
      {.name = "repo2-s3-region",
       .field = &O::repo2_s3_region,
       .commands = kRepo,
       .group = "S3",
       .help = "S3 region of repo2 (default: --s3-region)",
       .forward = Forward::kValue},
  };
}

std::vector<OptionSpec> PostgresAndPerformanceOptions() {
  using O = Options;
  return {
      // PostgreSQL
      {.name = "pgdata",
       .field = &O::pgdata,
       .commands = Bit(C::kBackup) | kRestore,
       .group = "PostgreSQL",
       .help = "PostgreSQL data directory (backup: source, restore: target)",
       .value_name = "DIR"},
      {.name = "pg-host",
       .field = &O::pg_host,
       .commands = kPg,
       .group = "PostgreSQL",
       .help = "host or unix socket directory",
       .value_name = "HOST"},
      {.name = "pg-port",
       .field = &O::pg_port,
       .default_value = "5432",
       .commands = kPg,
       .group = "PostgreSQL",
       .help = "port",
       .value_name = "PORT",
       .min = 1,
       .max = 65535},
      {.name = "pg-user",
       .field = &O::pg_user,
       .commands = kPg | kDrill,
       .group = "PostgreSQL",
       .help = "user (a superuser or one with backup privileges; drill: default postgres)",
       .value_name = "USER"},
      {.name = "archive-timeout",
       .field = &O::archive_timeout,
       .default_value = "60",
       .commands = Bit(C::kBackup) | Bit(C::kCheck) | kPush,
       .group = "PostgreSQL",
       .help = "seconds to wait for WAL to be archived (archive-push --archive-async: for the "
               "background pusher)",
       .value_name = "SECONDS",
       .min = 1,
       .max = 86400},
      {.name = "checksum-page",
       .field = &O::checksum_page,
       .default_value = "on",
       .commands = Bit(C::kBackup),
       .group = "PostgreSQL",
       .help = "check data page checksums when the cluster has them; a bad page makes the backup "
               "exit 11",
       .allowed = {"on", "off"}},
      // Performance
      {.name = "jobs",
       .field = &O::jobs,
       .default_value = "2",
       .commands = kJobs,
       .group = "Performance",
       .help = "parallel workers",
       .min = 1,
       .max = 256,
       .forward = Forward::kValue},
  };
}

std::vector<OptionSpec> RestoreOptions() {
  using O = Options;
  return {
      // Restore
      {.name = "backup",
       .field = &O::backup,
       .commands = kTarget | Bit(C::kVerify) | Bit(C::kExpire) | Bit(C::kHold) | Bit(C::kBackup),
       .group = "Restore",
       .help = "backup id or 'latest' (restore, drill: default chosen by the target; backup "
               "pin|unpin: the one to pin)",
       .value_name = "ID"},
      {.name = "tablespace-map",
       .field = &O::tablespace_map,
       .commands = kRestore,
       .group = "Restore",
       .help = "restore a tablespace elsewhere (repeatable)",
       .value_name = "OID=DIR"},
      {.name = "target-time",
       .field = &O::target_time,
       .commands = kTarget,
       .group = "Restore",
       .help = "recover to this time (with zone, e.g. +00)",
       .value_name = "TIME"},
      {.name = "target-lsn",
       .field = &O::target_lsn,
       .commands = kTarget,
       .group = "Restore",
       .help = "recover to this WAL position",
       .value_name = "LSN"},
      {.name = "target-xid",
       .field = &O::target_xid,
       .commands = kTarget,
       .group = "Restore",
       .help = "recover to this transaction's commit",
       .value_name = "XID"},
      {.name = "target-name",
       .field = &O::target_name,
       .commands = kTarget,
       .group = "Restore",
       .help = "recover to this pg_create_restore_point name",
       .value_name = "NAME"},
      {.name = "target-immediate",
       .field = &O::target_immediate,
       .default_value = "false",
       .commands = kTarget,
       .group = "Restore",
       .help = "stop as soon as the backup is consistent"},
      {.name = "target-inclusive",
       .field = &O::target_inclusive,
       .commands = kTarget,
       .group = "Restore",
       .help = "stop after (true) or before the target",
       .allowed = {"true", "false"}},
      {.name = "target-action",
       .field = &O::target_action,
       .commands = kRestore,
       .group = "Restore",
       .help = "what to do at the target",
       .allowed = {"promote", "pause", "shutdown"}},
  };
}

std::vector<OptionSpec> RecoveryOptions() {
  using O = Options;
  return {
      {.name = "target-timeline",
       .field = &O::target_timeline,
       .commands = kTarget,
       .group = "Restore",
       .help = "latest, current or a timeline number",
       .value_name = "TIMELINE"},
      {.name = "type",
       .field = &O::type,
       .default_value = "default",
       .commands = kRestore,
       .group = "Restore",
       .help = "default, or standby (standby.signal)",
       .allowed = {"default", "standby"}},
      {.name = "primary-conninfo",
       .field = &O::primary_conninfo,
       .commands = kRestore,
       .group = "Restore",
       .help = "with --type standby: primary_conninfo",
       .value_name = "CONNINFO"},
      {.name = "archive-mode",
       .field = &O::archive_mode,
       .commands = kRestore,
       .group = "Restore",
       .help = "preserve or off (archive_mode = off); default off with --start, else preserve",
       .allowed = {"preserve", "off"}},
      {.name = "start",
       .field = &O::start,
       .default_value = "false",
       .commands = kRestore,
       .group = "Restore",
       .help = "start the cluster, follow recovery and report where it stopped"},
  };
}

std::vector<OptionSpec> DrillOptions() {
  using O = Options;
  return {
      // Drill
      {.name = "checks",
       .field = &O::checks_file,
       .commands = kDrill,
       .group = "Drill",
       .help = "TOML file of user checks: SQL with an expected value or a time limit",
       .value_name = "FILE"},
      {.name = "scratch",
       .field = &O::scratch,
       .commands = kDrill,
       .group = "Drill",
       .help = "directory to restore into (default: a new one under the system temp dir)",
       .value_name = "DIR"},
      {.name = "keep",
       .field = &O::keep,
       .default_value = "false",
       .commands = kDrill,
       .group = "Drill",
       .help = "leave the restored cluster's directory in place (the server is stopped)"},
      {.name = "sample",
       .field = &O::sample,
       .default_value = "100",
       .commands = Bit(C::kVerify),
       .group = "Drill",
       .help = "read back this percentage of blocks, chosen at random",
       .value_name = "PERCENT",
       .min = 1,
       .max = 100},
  };
}

std::vector<OptionSpec> ArchiveAndOutputOptions() {
  using O = Options;
  return {
      // Archive
      {.name = "archive-async",
       .field = &O::archive_async,
       .default_value = "false",
       .commands = kPush,
       .group = "Archive",
       .help = "push ready segments ahead in a background process"},
      {.name = "spool-path",
       .field = &O::spool_path,
       .commands = kPush,
       .group = "Archive",
       .help = "with --archive-async: local directory for the pusher's results and log",
       .value_name = "DIR"},
      {.name = "prefetch",
       .field = &O::prefetch,
       .default_value = "0",
       .commands = Bit(C::kArchiveGet) | kRestore,
       .group = "Archive",
       .help = "WAL segments to fetch ahead (0 = off)",
       .value_name = "N",
       .min = 0,
       .max = 1024,
       .forward = Forward::kValue},
      // Output
      {.name = "config",
       .field = &O::config,
       .commands = kAll,
       .group = "Output",
       .help = "TOML config file: option = value, keys named as the flags",
       .value_name = "FILE",
       .forward = Forward::kPath},
      {.name = "log-level",
       .field = &O::log_level,
       .default_value = "warn",
       .commands = kAll,
       .group = "Output",
       .help = "messages on stderr",
       .allowed = {"debug", "info", "warn", "error", "off"}},
      {.name = "json",
       .field = &O::json,
       .default_value = "false",
       .commands = Bit(C::kInfo) | Bit(C::kCheck) | Bit(C::kVerify) | kDrill | Bit(C::kExpire) |
                   Bit(C::kGc),
       .group = "Output",
       .help = "machine-readable output"},
      {.name = "stats",
       .field = &O::stats,
       .default_value = "false",
       .commands = Bit(C::kBackup),
       .group = "Output",
       .help = "print CPU seconds per pipeline stage"},
      // Daemon
      {.name = "listen",
       .field = &O::listen,
       .default_value = "127.0.0.1:9187",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "address of /metrics and the status page ('' = no listener)",
       .value_name = "HOST:PORT"},
      {.name = "timezone",
       .field = &O::timezone,
       .default_value = "UTC",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "IANA time zone of the schedules, e.g. Europe/Berlin",
       .value_name = "ZONE"},
      {.name = "log-format",
       .field = &O::log_format,
       .default_value = "text",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "one line per event on stderr: text or JSON",
       .allowed = {"text", "json"}},
      {.name = "alert-webhook",
       .field = &O::alert_webhook,
       .commands = kDaemon,
       .group = "Daemon",
       .help = "http(s) URL that alerts are POSTed to as JSON",
       .value_name = "URL"},
      {.name = "alert-command",
       .field = &O::alert_command,
       .commands = kDaemon,
       .group = "Daemon",
       .help = "shell command run per alert (PGVAULT_EVENT, PGVAULT_CLUSTER, ... set)",
       .value_name = "CMD"},
      {.name = "alert-interval",
       .field = &O::alert_interval,
       .default_value = "300",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "at most one alert per cluster and event kind in this many seconds",
       .value_name = "SECONDS",
       .min = 0,
       .max = 86400},
      {.name = "retry",
       .field = &O::retry,
       .default_value = "3",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "retries of a failed scheduled job before its next scheduled run",
       .value_name = "N",
       .min = 0,
       .max = 100},
      {.name = "retry-delay",
       .field = &O::retry_delay,
       .default_value = "60",
       .commands = kDaemon,
       .group = "Daemon",
       .help = "seconds before the first retry; doubled for each further one",
       .value_name = "SECONDS",
       .min = 1,
       .max = 86400},
  };
}

// The whole table, in the order of --help; one function a group keeps each under 80 lines.
std::vector<OptionSpec> BuildTable() {
  std::vector<OptionSpec> table;
  for (auto* group : {&RepositoryOptions, &FormatOptions, &ReplicaAndRetentionOptions, &S3Options,
                      &PostgresAndPerformanceOptions, &RestoreOptions, &RecoveryOptions,
                      &DrillOptions, &ArchiveAndOutputOptions}) {
    std::vector<OptionSpec> rows = group();
    table.insert(table.end(), std::make_move_iterator(rows.begin()),
                 std::make_move_iterator(rows.end()));
  }
  return table;
}

size_t EditDistance(std::string_view a, std::string_view b) {
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

}  // namespace

Type TypeOf(const OptionSpec& spec) {
  switch (spec.field.index()) {
    case 0:
      return Type::kString;
    case 4:
      return Type::kBool;
    case 5:
      return Type::kList;
    default:
      return Type::kInt;
  }
}

std::string EnvName(std::string_view option) {
  std::string env = "PGVAULT_";
  for (char c : option) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> kCommands = {
      {C::kRepoCreate, "repo-create", "create a repository (encrypted unless --cipher none)", "",
       0},
      {C::kBackup, "backup",
       "back up a running cluster into the repository (pin|unpin --backup ID: keep one always)",
       "[pin|unpin]", 1},
      {C::kRestore, "restore", "restore a backup into an empty directory, ready to recover", "", 0},
      {C::kArchivePush, "archive-push", "archive_command: store one WAL file (PATH)", "PATH", 1},
      {C::kArchiveGet, "archive-get", "restore_command: fetch WAL file NAME into DEST", "NAME DEST",
       2},
      {C::kInfo, "info", "list backups and archived WAL", "", 0},
      {C::kCheck, "check", "check that archive_command reaches the repository; report archive lag",
       "", 0},
      {C::kVerify, "verify", "read back every block and WAL file (of one backup with --backup ID)",
       "", 0},
      {C::kKeyAdd, "key-add", "add a passphrase or key file that unlocks the repository", "", 0},
      {C::kRepoSync, "repo-sync", "copy what replica --to lacks from replica --from, verifying it",
       "", 0},
      {C::kExpire, "expire",
       "remove the backups the retention policy lets go (or one: --backup ID) and their data", "",
       0},
      {C::kHold, "hold", "set|clear a legal hold on everything a backup (--backup ID) needs",
       "set|clear", 1},
      {C::kDrill, "drill",
       "restore a backup into a scratch cluster, start it, run checks, record the RTO", "", 0},
      {C::kGc, "gc",
       "delete packs no backup needs: those a gc marked at least --gc-grace seconds ago", "", 0},
      {C::kCatalogExport, "catalog-export",
       "write every backup into table backup_catalog of a PostgreSQL database (--db)", "", 0},
      {C::kDaemon, "daemon",
       "run scheduled backups, verify, expire and drills for the clusters in --config; serve /metrics", "",
       0},
      {C::kVersion, "version", "print the version", "", 0},
  };
  return kCommands;
}

const std::vector<OptionSpec>& OptionTable() {
  static const std::vector<OptionSpec> kTable = BuildTable();
  return kTable;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const auto& c : CommandTable())
    if (c.name == name) return &c;
  return nullptr;
}

const OptionSpec* FindOption(std::string_view name) {
  for (const auto& o : OptionTable())
    if (o.name == name) return &o;
  return nullptr;
}

bool Takes(const OptionSpec& spec, Command command) { return (spec.commands & Bit(command)) != 0; }

std::string NearestName(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = 3;
  for (auto c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance || (best.empty() && word.size() >= 3 && c.starts_with(word)))
      best_distance = std::min(d, best_distance), best = c;
  }
  return std::string(best);
}

std::vector<std::string_view> CommandNames() {
  std::vector<std::string_view> out;
  for (const auto& c : CommandTable()) out.push_back(c.name);
  return out;
}

std::vector<std::string_view> OptionNames() {
  std::vector<std::string_view> out;
  for (const auto& o : OptionTable()) out.push_back(o.name);
  return out;
}

}  // namespace pgvault::config

// The rows of the option table (docs/design.md: one row per option), one function per --help
// group so that each stays short; option_table.cc looks them up. Repository, format, replica,
// retention and S3 options here; the rest in option_rows_commands.cc.
#include "config/option_rows.h"

#include <iterator>

namespace pgvault::config {
namespace rows {

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
  };
}

// Per tier: the storage class and object lock of a backup's new objects (docs/user-guide.md,
// "Retention").
std::vector<OptionSpec> TierPlacementOptions() {
  using O = Options;
  return {
      {.name = "retention-daily-storage-class",
       .field = &O::retention_daily_storage_class,
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "S3 storage class of the new objects of a daily backup (e.g. STANDARD_IA)",
       .value_name = "CLASS"},
      {.name = "retention-daily-lock",
       .field = &O::retention_daily_lock,
       .default_value = "false",
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "lock a daily backup's objects (COMPLIANCE) until its retention date"},
      {.name = "retention-weekly-storage-class",
       .field = &O::retention_weekly_storage_class,
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "S3 storage class of the new objects of a weekly backup (e.g. STANDARD_IA)",
       .value_name = "CLASS"},
      {.name = "retention-weekly-lock",
       .field = &O::retention_weekly_lock,
       .default_value = "false",
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "lock a weekly backup's objects (COMPLIANCE) until its retention date"},
      {.name = "retention-monthly-storage-class",
       .field = &O::retention_monthly_storage_class,
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "S3 storage class of the new objects of a monthly backup (e.g. GLACIER_IR)",
       .value_name = "CLASS"},
      {.name = "retention-monthly-lock",
       .field = &O::retention_monthly_lock,
       .default_value = "false",
       .commands = Bit(C::kBackup),
       .group = "Retention",
       .help = "lock a monthly backup's objects (COMPLIANCE) until its retention date"},
  };
}

std::vector<OptionSpec> RetentionOptions() {
  using O = Options;
  return {
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

}  // namespace rows

std::vector<OptionSpec> BuildOptionTable() {
  using namespace rows;  // NOLINT(google-build-using-namespace): the groups above
  std::vector<OptionSpec> table;
  for (auto* group :
       {&RepositoryOptions, &FormatOptions, &ReplicaAndRetentionOptions, &RetentionOptions,
        &TierPlacementOptions, &S3Options, &PostgresAndPerformanceOptions, &RestoreOptions,
        &RecoveryOptions, &DrillOptions, &ArchiveAndOutputOptions, &CheckOptions, &DaemonOptions,
        &StreamOptions}) {
    std::vector<OptionSpec> group_rows = group();
    table.insert(table.end(), std::make_move_iterator(group_rows.begin()),
                 std::make_move_iterator(group_rows.end()));
  }
  return table;
}

}  // namespace pgvault::config

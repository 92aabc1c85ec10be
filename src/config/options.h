// The values of every option after flags, PGVAULT_* variables and the config file are merged
// (settings.h). Defaults, ranges, help and which commands take an option are in the option table
// (option_table.cc), not here: a field holds zero until Resolve or DefaultOptions fills it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault::config {

struct Options {
  std::string repo;
  std::string config;
  std::string key_file;
  std::string key_cache;  // on | off: keep a passphrase's derived key in the kernel keyring
  std::string new_key_file;
  std::string log_level;
  int jobs = 0;
  std::string pgdata;
  std::string pg_host;
  int pg_port = 0;
  std::string pg_user;
  std::string cipher;
  std::string compress;
  int compress_level = 0;
  uint32_t block_size_kib = 0;
  uint32_t pack_size_mib = 0;
  std::string backup;
  std::vector<std::string> tablespace_map;
  bool json = false;
  bool stats = false;
  int archive_timeout = 0;
  std::string s3_endpoint, s3_region, s3_uri_style, s3_ca_file, s3_storage_class;
  int s3_timeout = 0;  // seconds an S3 request may make no progress before it is retried
  // A replica of the repository (another region or provider): same keys, same objects.
  std::string repo2, repo2_s3_endpoint, repo2_s3_region;
  std::string write_policy;
  bool object_lock = false;   // repo-create
  int retain_days = 0;        // backup: lock the backup for this many days
  std::string checksum_page;  // backup: on | off
  bool full_scan = false;     // backup: read unchanged files too
  std::string direct_io;      // backup: auto | on | off
  int64_t gc_grace = 0;       // expire: unreferenced packs younger than this are kept
  bool repack = false;        // gc: repack packs whose live fraction is below the threshold
  int repack_threshold = 0;   // gc: that threshold, in percent of the pack's size
  // retention policy (backup, expire, info): spans such as "30d"; "" = not set
  std::string retention_daily, retention_weekly, retention_monthly, retention_pitr;
  std::string retention_timezone;
  // backup: per tier, the S3 storage class of the backup's new objects and whether they are
  // locked until its retention date
  std::string retention_daily_storage_class, retention_weekly_storage_class,
      retention_monthly_storage_class;
  bool retention_daily_lock = false, retention_weekly_lock = false, retention_monthly_lock = false;
  std::string tier;  // backup --tier
  std::string now;   // --now: replaces the clock
  bool dry_run = false;
  std::string db;  // catalog-export: conninfo of the catalog database
  int sync_from = 0, sync_to = 0;
  // restore: recovery target and how to start (docs/pitr.md)
  std::string target_time, target_lsn, target_xid, target_name, target_inclusive, target_action,
      target_timeline;
  bool target_immediate = false;
  std::string type;  // default | standby
  std::string primary_conninfo;
  std::string archive_mode;  // preserve | off
  bool start = false;
  bool delta = false, delta_by_time = false;  // restore onto an existing data directory
  bool pg_port_given = false;  // pg-port came from a flag, PGVAULT_PG_PORT or the config file
  // archive-push/archive-get: asynchronous queue and prefetch
  bool archive_async = false;
  std::string spool_path;
  int prefetch = 0;
  // verify --sample; drill
  int sample = 0;
  std::string checks_file;
  std::string scratch;
  bool keep = false;
  // check's health thresholds (also the daemon's, before each backup)
  std::string min_free_space;
  int max_archive_lag = 0, max_replication_lag = 0;
  // daemon (docs/user-guide.md, "Running unattended")
  std::string listen, timezone, log_format, alert_webhook, alert_command;
  std::string listen_auth_file;  // USER:PASSWORD (mode 0600) that the listener requires
  int alert_interval = 0, retry = 0, retry_delay = 0;
  // wal-stream (docs/user-guide.md, "Streaming WAL")
  std::string slot, partial_interval;
  bool create_slot = false, synchronous = false;
  bool wal_stream = false;  // daemon: run wal-stream for the cluster
  std::vector<std::string> positional;
};

}  // namespace pgvault::config

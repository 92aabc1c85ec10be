// The command table: every pgvault command with its one-line help and entry point.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgvault::cli {

// All options, declared once (see options.cc): flags, PGVAULT_* variables and the TOML config
// file all fill this struct.
struct Options {
  std::string repo;
  std::string config;
  std::string key_file;
  std::string new_key_file;
  std::string log_level = "warn";
  int jobs = 2;
  std::string pgdata;
  std::string pg_host;
  int pg_port = 5432;
  std::string pg_user;
  std::string cipher = "aes-256-gcm";
  std::string compress = "zstd";
  int compress_level = 3;
  uint32_t block_size_kib = 128;
  uint32_t pack_size_mib = 32;
  std::string backup;
  std::vector<std::string> tablespace_map;
  bool json = false;
  bool stats = false;
  int archive_timeout = 60;
  std::string s3_endpoint, s3_region, s3_uri_style = "path", s3_ca_file, s3_storage_class;
  // A replica of the repository (another region or provider): same keys, same objects.
  std::string repo2, repo2_s3_endpoint, repo2_s3_region;
  std::string write_policy = "all";
  bool object_lock = false;  // repo-create
  int retain_days = 0;       // backup: lock the backup for this many days
  int64_t gc_grace = 3600;   // expire: unreferenced packs younger than this are kept
  int sync_from = 1, sync_to = 2;
  // restore: recovery target and how to start (docs/pitr.md)
  std::string target_time, target_lsn, target_xid, target_name, target_inclusive, target_action,
      target_timeline;
  bool target_immediate = false;
  std::string type = "default";  // default | standby
  std::string primary_conninfo;
  std::string archive_mode;  // preserve | off; "" = off with --start (not standby), else preserve
  bool start = false;
  bool pg_port_given = false;  // --pg-port/PGVAULT_PG_PORT was set (restore writes it as port)
  // archive-push/archive-get: asynchronous queue and prefetch
  bool archive_async = false;
  std::string spool_path;
  int prefetch = 0;
  std::vector<std::string> positional;
};

int Main(int argc, char** argv);

}  // namespace pgvault::cli

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
  uint32_t block_size_kib = 64;
  uint32_t pack_size_mib = 32;
  std::string backup;
  std::vector<std::string> tablespace_map;
  bool json = false;
  bool stats = false;
  int archive_timeout = 60;
  std::string s3_endpoint, s3_region, s3_uri_style = "path", s3_ca_file, s3_storage_class;
  std::vector<std::string> positional;
};

int Main(int argc, char** argv);

}  // namespace pgvault::cli

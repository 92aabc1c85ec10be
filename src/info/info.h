// The info command: the catalog, derived from write-once objects (manifests and WAL objects).
// CollectInfo returns data; the CLI writes it as text or JSON (cli/report_output.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "repo/catalog_records.h"
#include "repo/manifest.h"
#include "repo/repository.h"
#include "repo/wal_ranges.h"
#include "retention/policy.h"

namespace pgvault::info {

// The WAL objects of one timeline, as listed.
struct WalFiles {
  uint32_t timeline = 0;
  uint64_t segments = 0;  // archived segments
  uint64_t bytes = 0;     // stored size of all its WAL objects, history file included
  bool history = false;   // whether its history file is archived
  std::string first;      // the first and last archived segment ("" when none)
  std::string last;
};

// What the catalog says of one backup: its newest verify and drill records.
struct BackupRecords {
  std::optional<repo::VerifyRecord> verify;
  std::optional<repo::DrillRecord> drill;
  std::string damage;  // a record that does not decode ("" when all do)
};

// The retention facts of one intact backup.
struct BackupRetention {
  std::vector<retention::Tier> tiers;  // recorded in its manifest, or derived from start times
  int64_t retention_micros = 0;        // when its last tier ends under the policy; 0: none
  bool pinned = false;                 // backup pin
  bool held = false;                   // legal hold (object-lock storage)
};

// Where wal-stream has got to: its newest streamed part (repo/wal_store.h).
struct StreamingInfo {
  std::string segment;
  uint64_t bytes = 0;       // of the segment, received and stored
  uint64_t lsn = 0;         // the end of what is stored
  int64_t stored_unix = 0;  // when that part was stored
};

struct RepoInfo {
  std::string repository;  // where, as the storage describes itself
  std::string repo_id;
  std::string cipher;       // "aes-256-gcm" or "none"
  std::string compression;  // e.g. "zstd"
  uint32_t block_size = 0;
  std::vector<repo::ListedBackup> backups;       // oldest first, damaged ones included
  std::map<std::string, BackupRecords> records;  // by backup id; absent: none recorded
  // Continuity per timeline from the oldest backup's first segment onwards.
  std::vector<repo::TimelineRange> timelines;
  std::vector<WalFiles> wal;                         // by timeline, ascending
  std::map<std::string, BackupRetention> retention;  // by backup id, intact backups only
  std::optional<StreamingInfo> streaming;            // absent: nothing streamed in progress
};

// The retention dates are those of `policy` (an empty policy: none).
Result<RepoInfo> CollectInfo(repo::Repository& repo, const retention::Policy& policy = {});

}  // namespace pgvault::info

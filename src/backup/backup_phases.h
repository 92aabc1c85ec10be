// The phases of RunBackup, in order, declared apart from backup.h so that tests can run one
// phase without a whole backup: check the server ProbeServer found, lock and choose the parent,
// start the backup, copy the files (backup/copy_files.h), stop it, extend retention and make the
// manifest header.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "backup/backup.h"
#include "backup/copy_files.h"
#include "backup/pgdata_walk.h"
#include "pg/probe.h"
#include "pg/session.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgvault::backup {

// What options ask for is possible: a data directory is given and is one, and retention needs
// a repository created with object lock. kConfig or kInvalidArgument with a hint.
Status CheckOptions(repo::Repository& repo, const BackupOptions& options);

// The server can be backed up into repo: PostgreSQL 15 or later, running pgdata (resolved), a
// primary, archiving WAL, the cluster repo serves (kConflict otherwise).
Status CheckServer(repo::Repository& repo, const pg::ServerInfo& server, const std::string& pgdata,
                   const pg::ConnOptions& conn);

// The parent of backup backup_id: the newest intact backup with an earlier id (a backup running
// alongside may finish first with a later one). A damaged backup is passed over with a warning,
// so one bad manifest does not stop every later backup; manifest is null when there is none.
struct ParentBackup {
  std::unique_ptr<repo::ManifestReader> manifest;
  std::string id;
};
Result<ParentBackup> ChooseParent(repo::Repository& repo, const std::string& backup_id);

// Where the backup starts and stops in the WAL, as the server said.
struct BackupPoints {
  uint32_t timeline = 0;
  std::string start_lsn_text, stop_lsn_text;  // as the server printed them
  uint64_t start_lsn = 0, stop_lsn = 0;
  std::string start_wal, stop_wal;           // the first and last segment the backup needs
  int64_t start_time = 0, stop_time = 0;     // unix microseconds
  std::string backup_label, tablespace_map;  // pg_backup_stop's labelfile and spcmapfile
};
// pg_backup_start on session: fills the timeline, start time and start LSN.
Result<BackupPoints> StartBackup(pg::PgSession& session, const std::string& backup_id);
// pg_backup_stop on session: fills the rest; kPg when the server's answer is odd.
Status StopBackup(pg::PgSession& session, uint64_t segment_size, BackupPoints& points);

// Retention for a retained backup: the packs it reuses and the WAL it needs are locked until
// `until` before the manifest makes the backup visible; retention only ever grows.
Status ExtendRetention(repo::Repository& repo, const std::set<repo::PackId>& packs,
                       const BackupPoints& points, uint64_t segment_size, int64_t until);

// The manifest header of the finished backup.
struct HeaderParts {
  const std::string& backup_id;
  const std::string& parent_id;  // "" for a backup without parent
  const std::string& pgdata;
  const pg::ServerInfo& server;
  const BackupPoints& points;
  const WalkResult& walk;
  const CopyTotals& totals;
  double duration_seconds = 0;
  int64_t retain_until_unix = 0;  // 0 when not retained
};
repo::ManifestHeader MakeHeader(const repo::RepoParams& params, const HeaderParts& parts);

}  // namespace pgvault::backup

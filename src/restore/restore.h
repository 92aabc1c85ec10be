// The restore command: rebuilds a data directory from a backup, in parallel, authenticating every
// block (AES-GCM in an encrypted repository, its keyed id in an unencrypted one), then writes the
// recovery settings so PostgreSQL replays the archived WAL when it starts. global/pg_control is
// written last: an interrupted restore leaves a directory PostgreSQL refuses to start, never one
// that starts with missing files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "repo/repository.h"
#include "repo/wal_ranges.h"

namespace pgvault::restore {

// Where recovery stops; the values mean what PostgreSQL's recovery_target_* settings mean.
struct RecoveryTarget {
  enum class Kind { kEndOfWal, kTime, kLsn, kXid, kName, kImmediate };
  Kind kind = Kind::kEndOfWal;
  std::string value;              // as the user gave it (time, LSN, xid or restore point name)
  std::optional<bool> inclusive;  // recovery_target_inclusive; nullopt = PostgreSQL's default
  std::string action;             // promote|pause|shutdown; empty = PostgreSQL's default (pause)
  std::string timeline;           // latest|current|N; empty = PostgreSQL's default (latest)
  // Parsed forms, filled by ValidateTarget.
  int64_t time_unix_micros = 0;
  uint64_t lsn = 0;
};

// Checks a target and fills its parsed fields. kInvalidArgument names the bad value.
Status ValidateTarget(RecoveryTarget& target);
// "time '2024-05-01 14:31:07+00'", "end of the archived WAL", ...
std::string DescribeTarget(const RecoveryTarget& target);
// Accepts "YYYY-MM-DD[ T]HH:MM:SS[.ffffff](Z|+HH|+HH:MM|+HHMM)"; a time zone is required because
// PostgreSQL would otherwise read the time in the restored server's time zone.
std::optional<int64_t> ParseTargetTime(std::string_view text);

struct RestoreOptions {
  std::string pgdata;
  std::string backup_id;  // empty = chosen from the target
  RecoveryTarget target;
  bool standby = false;           // --type standby: standby.signal
  std::string primary_conninfo;   // standby only
  bool archive_mode_off = false;  // --archive-mode off
  std::optional<int> port;        // written as port = N when given
  int jobs = 2;
  std::map<std::string, std::string> tablespace_map;  // oid -> new location
  std::string restore_command;                        // written into postgresql.auto.conf
  // --delta: pgdata may hold this cluster's data directory (server stopped); only what differs
  // from the backup is written, what the backup lacks is removed (restore/delta.h).
  bool delta = false;
  bool delta_by_time = false;  // --delta-by-time: same size and mtime = unchanged, not read
  bool direct_io = true;       // large files written around the page cache (--direct-io)
};

// Written into every target directory (the data directory and each tablespace location) before
// anything else and removed only once the restore is complete and synced: a retry into a
// directory that holds it says which restore was interrupted. PostgreSQL itself refuses such a
// directory because global/pg_control is written last.
inline constexpr char kIncompleteMarker[] = "PGVAULT_RESTORE_INCOMPLETE";

struct RestoreResult {
  std::string backup_id;
  std::string why_this_backup;  // "newest backup that ends before time '...'"
  std::string note;             // FitTargetToKeptWal's, when it chose the target
  int pg_version = 0;           // server_version_num recorded by the backup
  uint64_t files = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  // --delta only. Files are the backup's but global/pg_control and postgresql.auto.conf, which
  // every restore writes; removed counts entries the backup does not hold.
  bool delta = false;
  uint64_t unchanged_files = 0, rewritten_files = 0, removed = 0, bytes_written = 0;
};

Result<RestoreResult> RunRestore(repo::Repository& repo, const RestoreOptions& options,
                                 Progress& progress);

std::string SummaryLine(const RestoreResult& result);

// What a restore does, decided once before anything is written: which backup, and the WAL
// recovery will replay from it (the repository's WAL listing and the timelines it follows).
struct RestorePlan {
  std::string backup_id;
  std::string reason;            // why this backup: "newest backup on timeline 2", ...
  uint32_t backup_timeline = 0;  // the backup's own timeline
  std::optional<uint64_t> start_lsn, stop_lsn;  // the backup's; nullopt when the manifest lacks one
  uint64_t segment_size = 0;                    // the backup's wal_segment_size
  uint32_t timeline = 0;                        // the timeline recovery ends on
  // The timelines recovery follows from the backup's, oldest first, each with the LSN where it
  // was left (UINT64_MAX for the last); the backup's timeline is on it.
  std::vector<repo::HistoryEntry> path;
  repo::WalIndex wal;  // the repository's WAL, listed once with segment_size
};

// Chooses the backup for a target: the newest one on the target timeline's history that ends
// before the target (stop_time for a time, stop_lsn for an LSN; xid and restore point name
// targets cannot be placed without reading WAL, so they take the newest backup). kNotFound,
// naming the target and the oldest backup, when none can reach it. The timeline recovery ends
// on: --target-timeline N; "current" the backup's own; empty or "latest" the newest timeline
// with a history file in the repository.
Result<RestorePlan> ChooseBackup(repo::Repository& repo, const RecoveryTarget& target,
                                 const std::string& requested_id);

// Fits the target to the WAL expire kept (retention/wal_gc.h): before the newest WAL cut only
// each kept backup's own WAL is left. When the plan's backup ends before the cut with WAL
// missing between, no target becomes the immediate one (promoting unless --target-action says
// otherwise) and the returned note says so in one line; a time or LSN target past the backup's
// own WAL is kInvalidArgument whose hint names the oldest backup that can reach it. An xid or
// restore point target is only warned about: it cannot be placed without reading WAL. Returns
// "" when nothing changed.
Result<std::string> FitTargetToKeptWal(repo::Repository& repo, const RestorePlan& plan,
                                       RecoveryTarget& target);

// --start: starts the restored cluster with pg_ctl and follows recovery to its end.
struct StartOptions {
  std::string pgdata;
  std::string host;  // where to connect to the restored server
  int port = 5432;
  std::string user;
  int pg_version = 0;  // server_version_num of the backup: picks the pg_ctl binary
  bool standby = false;
  // When pgvault runs as root: the OS user that runs pg_ctl (PostgreSQL refuses root); the data
  // directory must belong to it. Empty = the current user.
  std::string run_as;
  // Give up following when recovery shows no progress (neither the replayed LSN nor the server
  // log moves) for this long; the server keeps running.
  double stall_seconds = 300;
  // Removed from pg_ctl's environment and so from the server's: secrets its restore_command and
  // archive_command do not need (config::ServerEnvToDrop).
  std::vector<std::string> unset_env;
};
struct RecoveryReport {
  std::string outcome;      // "promoted", "paused at the target", "shut down at the target", ...
  std::string stop_lsn;     // last replayed record
  std::string stop_time;    // time of the last replayed transaction ("" when none)
  uint32_t timeline = 0;    // timeline the server runs on afterwards (0 when it shut down)
  std::string stop_detail;  // PostgreSQL's "recovery stopping ..." log line, when there is one
  double seconds = 0;
};
Result<RecoveryReport> StartAndFollow(const StartOptions& options);
std::string ReportLine(const RecoveryReport& report);

// The PostgreSQL program `tool` of the major version of server_version_num pg_version
// (/usr/lib/postgresql/N/bin), else from PATH.
std::string PgBin(int pg_version, const char* tool);
// Runs argv (no shell) with stdin from /dev/null and returns its exit code and stdout; as the OS
// user run_as when given and pgvault runs as root, without the environment variables unset_env.
// kIo when it cannot be run.
Result<std::pair<int, std::string>> RunProgram(const std::vector<std::string>& argv,
                                               const std::string& run_as = "",
                                               const std::vector<std::string>& unset_env = {});
// Stops the server of pgdata by its postmaster PID: SIGINT (fast shutdown), SIGKILL after
// timeout_seconds; returns once the process is gone. Ok when no server runs.
Status StopServer(const std::string& pgdata, double timeout_seconds = 60);

}  // namespace pgvault::restore

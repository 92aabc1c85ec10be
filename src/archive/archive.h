// archive-push and archive-get: PostgreSQL's archive_command and restore_command.
//
// Asynchronous push (docs/pitr.md, "Asynchronous archiving"): archive-push copies the segment
// into <spool>/queue/ (written to a temp name, fsync'd, renamed, directory fsync'd) and returns;
// one background worker per spool (an flock on <spool>/worker.lock, which holds its pid) pushes
// queued files in parallel and deletes each only once the repository has it. A worker killed at
// any moment loses nothing: the next archive-push starts a new one that pushes what is queued.
// When the queue holds more than queue_max_bytes, archive-push stores the segment synchronously
// instead (logged as a warning); if that fails PostgreSQL keeps the segment and retries. Nothing
// is ever dropped. Permanent push failures are recorded in <spool>/error/<name>.error, and every
// archive-push fails while one exists, so pg_stat_archiver shows the problem.
//
// Prefetch: archive-get with prefetch > 0 serves segments from <dir of DEST>/pgvault-prefetch/
// and starts a background process that fetches the next segments in parallel into it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "repo/repository.h"

namespace pgvault::archive {

// archive-get exits with this when recovery must stop rather than end early: PostgreSQL treats
// an exit status above 125 from restore_command as fatal.
constexpr int kExitStopRecovery = 200;

using RepoOpener = std::function<Result<std::unique_ptr<repo::Repository>>()>;

// Validates that path is a WAL file PostgreSQL produced, then stores it (idempotently).
// Returns a one-line description of what happened.
Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path);

struct AsyncOptions {
  std::string spool_path;
  uint64_t queue_max_bytes = 4096ull << 20;
  int jobs = 2;
};
// Queues path in the spool and makes sure a worker runs. open is called only when the segment
// must be pushed synchronously (full queue).
Result<std::string> ArchivePushAsync(const std::string& path, const AsyncOptions& options,
                                     const RepoOpener& open);
// The worker loop (also started by ArchivePushAsync). Returns when the queue stayed empty for a
// moment, or at once when another worker holds the lock.
Status RunArchiveWorker(const AsyncOptions& options, const RepoOpener& open);

struct GetOptions {
  int prefetch = 0;  // segments to fetch ahead; 0 = off
  int jobs = 2;
};
// Writes the named WAL file to dest atomically. kNotFound when the repository lacks it;
// kCorruption naming the segment when it is missing but later WAL of its timeline is there (a
// gap: recovery must not end here).
Status ArchiveGet(repo::Repository& repo, const std::string& name, const std::string& dest);
// ArchiveGet with prefetch; opens the repository only when the segment was not prefetched.
Status ArchiveGetPrefetch(const std::string& name, const std::string& dest,
                          const GetOptions& options, const RepoOpener& open);

// True when restore_command runs for a standby (standby.signal in the working directory,
// which PostgreSQL sets to the data directory): a standby waits for missing WAL instead.
bool RunningForStandby();

}  // namespace pgvault::archive

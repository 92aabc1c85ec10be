// archive-push and archive-get: PostgreSQL's archive_command and restore_command.
//
// Asynchronous push (docs/pitr.md, "Asynchronous archiving"), as pgBackRest's archive-async
// does it: archive-push of a segment PostgreSQL marked ready (pg_wal/archive_status/<name>.ready)
// makes sure one background pusher per spool runs (an flock on <spool>/pusher.lock, which holds
// its pid) and waits for it. The pusher reads ahead: it pushes every ready segment with --jobs
// long-lived workers and one repository connection, and creates <spool>/out/<name>.ok only once
// the repository has the segment; archive-push consumes that file and succeeds. PostgreSQL
// therefore hears "archived" exactly when it would in synchronous mode, so a pusher killed at
// any moment loses nothing: the next wait starts a new one. Permanent failures become
// <spool>/out/<name>.error, which that segment's archive-push reports (and removes, so
// PostgreSQL's retry tries again); a segment not stored within timeout_seconds fails the same
// way. A path without a .ready file (not from the archiver) is pushed synchronously.
//
// Prefetch: archive-get with prefetch > 0 serves segments from <dir of DEST>/pgvault-prefetch/
// and starts a background process that fetches the next segments in parallel into it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "repo/repository.h"

namespace pgvault::archive {

using RepoOpener = std::function<Result<std::unique_ptr<repo::Repository>>()>;

// Validates that path is a WAL file PostgreSQL produced, then stores it (idempotently).
// Returns a one-line description of what happened.
Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path);

struct AsyncOptions {
  std::string spool_path;
  double timeout_seconds = 60;
  int jobs = 2;
};
// Waits until the background pusher has stored path (starting one if none runs). open is
// called here only when path must be pushed synchronously (no .ready file).
Result<std::string> ArchivePushAsync(const std::string& path, const AsyncOptions& options,
                                     const RepoOpener& open);
// The pusher (started by ArchivePushAsync) for the segments ready in wal_dir. Returns when
// nothing was ready for a moment, or at once when another pusher holds the lock.
Status RunArchivePusher(const AsyncOptions& options, const std::string& wal_dir,
                        const RepoOpener& open);

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

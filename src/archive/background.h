// Process plumbing for archive-push's and archive-get's background helpers (the pusher and the
// prefetcher): detach a daemon from PostgreSQL's archiver or startup process, and one-instance
// locks on a spool file.
#pragma once

#include <functional>
#include <string>

namespace pgvault::archive {

// Runs fn in a detached grandchild (setsid, stdio to log_path) and returns at once in the
// caller. fn's return value is the daemon's exit code.
void Daemonize(const std::string& log_path, const std::function<int()>& fn);

// An exclusive, non-blocking flock on path; -1 when another process holds it.
int TryLock(const std::string& path);

// Writes this process's id into the locked file (best effort: only for people reading it).
void WritePid(int lock_fd);

}  // namespace pgvault::archive

// Backup locks: a running backup claims its id with a write-once lock object that names its
// owner (host, pid, start time, a random token) and keeps a lease on it by rewriting a separate
// lease object. Expire asks FindLiveBackup whether a backup is running; a lock whose owner is
// dead (same host, pid gone or host restarted) or whose lease expired does not count and is
// removed. See docs/design.md ("Backup locks") and docs/repository-format.md ("locks/").
//
// Works on any Storage with an atomic Put(if_absent) (posix, S3, memory): no file locks, no
// object is ever overwritten except the owner's own lease. Times are the writers' wall clocks,
// so hosts sharing a repository must agree on the time to well within a lease.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/storage.h"

namespace pgvault::repo {

// Who holds a lock, as stored in locks/backup-<id>.
struct LockOwner {
  std::string host;
  std::string boot_id;  // the host's boot id; "" when unknown
  int64_t pid = 0;
  int64_t start_unix = 0;
  int64_t lease_seconds = 0;  // the lock counts until this long after its latest renewal
  std::string token;          // random per lock: a process deletes only a lock with its token
};

// The world a lock lives in. SystemLockEnv() is the real one; tests make their own.
struct LockEnv {
  LockOwner self;  // host, boot_id and pid of this process (start, lease and token are per lock)
  std::function<int64_t()> now_unix;
  std::function<bool(int64_t pid)> pid_alive;  // is that pid running on this host?
  int64_t lease_seconds = 30 * 60;
  int64_t renew_seconds = 5 * 60;  // heartbeat period of a held lock; 0 = no heartbeat thread
};
LockEnv SystemLockEnv();

enum class LockState { kLive, kOwnerDead, kHostRestarted, kLeaseExpired };

struct BackupLockInfo {
  std::string backup_id;
  LockOwner owner;
  bool legacy = false;       // written by an older pgvault: no owner; its age comes from mtime
  int64_t renewed_unix = 0;  // start, or the latest lease renewal
  LockState state = LockState::kLive;
  // "pid 123 on host 'db1', started 2026-11-28T21:04:23Z"
  std::string DescribeOwner() const;
};

// A held lock on one backup id. Movable; the destructor releases it. Renews its lease from a
// heartbeat thread while held (LockEnv::renew_seconds).
class BackupLock {
 public:
  BackupLock(BackupLock&& other) noexcept;
  BackupLock& operator=(BackupLock&& other) noexcept;
  ~BackupLock();

  const std::string& backup_id() const;
  // Rewrites the lease object with the current time.
  Status Renew();
  // Deletes the lock and its lease if the lock still carries this lock's token; a lock that
  // another process owns (or that is gone) is left alone with a warning. Idempotent.
  Status Release();

  struct State;

 private:
  explicit BackupLock(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  friend Result<BackupLock> LockBackup(storage::Storage& storage, const LockEnv& env);
  friend Result<BackupLock> LockGc(storage::Storage& storage, const LockEnv& env);
};

// Claims a new backup id: the current second, or the second after the newest backup, and the
// next one for as long as an id is taken (by a lock or by a backup's objects). kConflict only
// when 1000 ids in a row are taken.
Result<BackupLock> LockBackup(storage::Storage& storage, const LockEnv& env);
Result<BackupLock> LockBackup(storage::Storage& storage);

// Every backup lock with its state as seen by env.
Result<std::vector<BackupLockInfo>> ListBackupLocks(storage::Storage& storage, const LockEnv& env);

// The oldest live backup lock, if any. Stale locks are removed (after checking that their
// content did not change) with a warning naming their owner.
Result<std::optional<BackupLockInfo>> FindLiveBackup(storage::Storage& storage, const LockEnv& env);
Result<std::optional<BackupLockInfo>> FindLiveBackup(storage::Storage& storage);

// The exclusive lock of gc and expire (locks/gc): the same owner record and lease as a backup
// lock. A stale one (owner dead, host restarted, lease expired) is taken over with a warning
// naming its owner; a live one is kConflict naming it.
Result<BackupLock> LockGc(storage::Storage& storage, const LockEnv& env);
Result<BackupLock> LockGc(storage::Storage& storage);

// kConflict saying who holds the lock, how old it is, what was not done (consequence, e.g.
// "nothing was expired") and, as the hint, what to do.
Status BackupRunningError(const BackupLockInfo& lock, int64_t now_unix,
                          std::string_view consequence);

}  // namespace pgvault::repo

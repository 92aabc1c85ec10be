#include "repo/backup_lock.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"
#include "common/time.h"
#include "pipeline/crypto.h"
#include "repo/layout.h"
#include "repo/manifest.h"

namespace pgvault::repo {

using nlohmann::json;

namespace {

// Locks of older pgvault versions hold only the id and are never renewed.
constexpr int64_t kLegacyLockSeconds = 24 * 3600;
constexpr int kMaxIdAttempts = 1000;

std::string Duration(int64_t seconds) {
  if (seconds < 120) return fmt::format("{} s", std::max<int64_t>(seconds, 0));
  if (seconds < 2 * 3600) return fmt::format("{} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600.0);
}

std::string OwnerJson(const std::string& backup_id, const LockOwner& owner) {
  json j{{"backup_id", backup_id},         {"host", owner.host},
         {"boot_id", owner.boot_id},       {"pid", owner.pid},
         {"start_unix", owner.start_unix}, {"lease_seconds", owner.lease_seconds},
         {"token", owner.token},           {"pgvault_version", PGVAULT_VERSION}};
  return j.dump();
}

// nullopt for a lock without an owner (an older pgvault wrote just the id).
std::optional<LockOwner> ParseOwner(const Bytes& content) {
  json j = json::parse(AsString(content), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("token")) return std::nullopt;
  return LockOwner{.host = j.value("host", ""),
                   .boot_id = j.value("boot_id", ""),
                   .pid = j.value("pid", int64_t{0}),
                   .start_unix = j.value("start_unix", int64_t{0}),
                   .lease_seconds = j.value("lease_seconds", int64_t{0}),
                   .token = j.value("token", "")};
}

// The renewal time in a lease object, if it belongs to token.
std::optional<int64_t> ParseLease(const Bytes& content, const std::string& token) {
  json j = json::parse(AsString(content), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("token", "") != token) return std::nullopt;
  return j.value("renewed_unix", int64_t{0});
}

LockState StateOf(const BackupLockInfo& lock, const LockEnv& env, int64_t now) {
  if (lock.legacy)
    return now - lock.renewed_unix > kLegacyLockSeconds ? LockState::kLeaseExpired
                                                        : LockState::kLive;
  if (lock.owner.host == env.self.host) {
    if (!lock.owner.boot_id.empty() && !env.self.boot_id.empty() &&
        lock.owner.boot_id != env.self.boot_id)
      return LockState::kHostRestarted;
    if (!env.pid_alive(lock.owner.pid)) return LockState::kOwnerDead;
  }
  if (now > lock.renewed_unix + lock.owner.lease_seconds) return LockState::kLeaseExpired;
  return LockState::kLive;
}

std::string StaleReason(const BackupLockInfo& lock) {
  switch (lock.state) {
    case LockState::kOwnerDead:
      return "the process is no longer running";
    case LockState::kHostRestarted:
      return "its host restarted since";
    case LockState::kLeaseExpired:
      return fmt::format(
          "its lease expired at {}",
          FormatIsoSeconds(lock.renewed_unix +
                           (lock.legacy ? kLegacyLockSeconds : lock.owner.lease_seconds)));
    case LockState::kLive:
      break;
  }
  return "it is live";
}

std::string ReadFirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

LockEnv SystemLockEnv() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  LockEnv env;
  env.self.host = host;
  env.self.boot_id = ReadFirstLine("/proc/sys/kernel/random/boot_id");
  env.self.pid = ::getpid();
  env.now_unix = [] { return NowUnixMicros() / 1000000; };
  // EPERM: the pid exists but belongs to another user, so it is alive.
  env.pid_alive = [](int64_t pid) {
    return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
  };
  return env;
}

std::string BackupLockInfo::DescribeOwner() const {
  if (legacy)
    return fmt::format("written by an older pgvault at {}", FormatIsoSeconds(renewed_unix));
  return fmt::format("pid {} on host '{}', started {}", owner.pid, owner.host,
                     FormatIsoSeconds(owner.start_unix));
}

struct BackupLock::State {
  State(storage::Storage& storage_in, std::string id, LockOwner owner_in, LockEnv env_in,
        std::string lock_key_in, std::string lease_key_in)
      : storage(storage_in),
        backup_id(std::move(id)),
        owner(std::move(owner_in)),
        env(std::move(env_in)),
        lock_key(std::move(lock_key_in)),
        lease_key(std::move(lease_key_in)) {}

  storage::Storage& storage;
  std::string backup_id;
  LockOwner owner;
  LockEnv env;
  std::string lock_key;  // locks/backup-<id> or locks/gc
  std::string lease_key;
  bool released = false;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread heartbeat;

  Status Renew() {
    std::string lease = json{{"token", owner.token}, {"renewed_unix", env.now_unix()}}.dump();
    return storage.Put(lease_key, AsBytes(lease))
        .Context(fmt::format("renewing the lease of '{}'", lock_key));
  }
};

BackupLock::BackupLock(std::unique_ptr<State> state) : state_(std::move(state)) {
  if (state_->env.renew_seconds <= 0) return;
  State* s = state_.get();
  // The thread uses only the State, which stays put when the BackupLock moves.
  s->heartbeat = std::thread([s] {
    std::unique_lock lock(s->mu);
    while (!s->cv.wait_for(lock, std::chrono::seconds(s->env.renew_seconds),
                           [s] { return s->stop; })) {
      lock.unlock();
      if (Status st = s->Renew(); !st.ok())
        log::Warn("cannot renew the lease of backup '{}': {}", s->backup_id, st.ToString());
      lock.lock();
    }
  });
}

namespace {
// Release for the destructor and the move assignment, which must not throw: a failure, or an
// exception (out of memory while logging), is reported on stderr, never propagated.
void ReleaseNoThrow(BackupLock& lock) noexcept {
  try {
    if (Status s = lock.Release(); !s.ok()) log::Warn("{}", s.ToString());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgvault: releasing backup lock '%s': %s\n", lock.backup_id().c_str(),
                 e.what());
  } catch (...) {
    std::fprintf(stderr, "pgvault: releasing backup lock '%s' failed\n", lock.backup_id().c_str());
  }
}
}  // namespace

BackupLock::BackupLock(BackupLock&& other) noexcept = default;
BackupLock& BackupLock::operator=(BackupLock&& other) noexcept {
  if (this != &other) {
    if (state_) ReleaseNoThrow(*this);
    state_ = std::move(other.state_);
  }
  return *this;
}

BackupLock::~BackupLock() {
  if (state_) ReleaseNoThrow(*this);
}

const std::string& BackupLock::backup_id() const { return state_->backup_id; }

Status BackupLock::Renew() { return state_->Renew(); }

Status BackupLock::Release() {
  if (!state_ || state_->released) return Status::Ok();
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.stop = true;
  }
  s.cv.notify_all();
  if (s.heartbeat.joinable()) s.heartbeat.join();
  s.released = true;
  const std::string& key = s.lock_key;
  auto content = s.storage.Get(key);
  if (!content.ok() && content.status().IsNotFound()) {
    log::Warn("the lock '{}' was removed by another process", key);
    return Status::Ok();
  }
  if (!content.ok()) return content.status().Context(fmt::format("releasing '{}'", key));
  auto owner = ParseOwner(*content);
  if (!owner || owner->token != s.owner.token) {
    log::Warn("not removing '{}': it is not this process's lock", key);
    return Status::Ok();
  }
  PGV_RETURN_IF_ERROR(s.storage.Delete(s.lease_key));
  return s.storage.Delete(key).Context(fmt::format("releasing '{}'", key));
}

Result<BackupLock> LockBackup(storage::Storage& storage) {
  return LockBackup(storage, SystemLockEnv());
}

Result<BackupLock> LockBackup(storage::Storage& storage, const LockEnv& env) {
  PGV_ASSIGN_OR_RETURN(auto backups, ListBackups(storage));
  int64_t now = env.now_unix();
  int64_t second = now;
  if (!backups.empty())
    if (auto newest = BackupIdTime(backups.back())) second = std::max(second, *newest + 1);
  LockOwner owner = env.self;
  owner.start_unix = now;
  owner.lease_seconds = env.lease_seconds;
  owner.token = ToHex(pipeline::RandomBytes(16));
  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt, ++second) {
    std::string id = BackupIdAt(second);
    std::string key = BackupLockKey(id);
    std::string content = OwnerJson(id, owner);
    Status put = storage.Put(key, AsBytes(content), {.if_absent = true});
    if (put.code() == Code::kConflict) continue;  // another backup holds this id
    PGV_RETURN_IF_ERROR(put.Context(fmt::format("claiming backup id '{}'", id)));
    // A backup that already finished (or died) with this id released its lock but left objects.
    auto objects = storage.List(BackupPrefix(id));
    if (!objects.ok() || !objects->empty()) {
      PGV_RETURN_IF_ERROR(storage.Delete(key));  // our own lock, just created
      if (!objects.ok()) return objects.status();
      continue;
    }
    return BackupLock(
        std::make_unique<BackupLock::State>(storage, id, owner, env, key, BackupLeaseKey(id)));
  }
  return std::move(Status::Conflict(fmt::format(
                       "no free backup id: {} ids in a row from '{}' are taken in '{}'",
                       kMaxIdAttempts, BackupIdAt(second - kMaxIdAttempts), storage.Describe())))
      .WithHint("check the clock of this host, and the locks/ of the repository");
}

namespace {

// The lock at lock_key and its lease, judged by env; nullopt when it is gone. A lock without an
// owner (an older pgvault) is dated by its mtime.
Result<std::optional<BackupLockInfo>> ReadLock(storage::Storage& storage,
                                               const std::string& lock_key,
                                               const std::string& lease_key, int64_t mtime_unix,
                                               const LockEnv& env) {
  auto content = storage.Get(lock_key);
  if (!content.ok() && content.status().IsNotFound())
    return std::optional<BackupLockInfo>();  // released meanwhile
  if (!content.ok()) return content.status();
  BackupLockInfo lock;
  if (auto owner = ParseOwner(*content)) {
    lock.owner = *owner;
    lock.renewed_unix = owner->start_unix;
    auto lease = storage.Get(lease_key);
    if (!lease.ok() && !lease.status().IsNotFound()) return lease.status();
    if (lease.ok())
      if (auto renewed = ParseLease(*lease, owner->token))
        lock.renewed_unix = std::max(lock.renewed_unix, *renewed);
  } else {
    lock.legacy = true;
    lock.renewed_unix = mtime_unix;
  }
  lock.state = StateOf(lock, env, env.now_unix());
  return std::optional<BackupLockInfo>(std::move(lock));
}

// Takes over a stale lock: deletes it (lease first) only if it is still the lock that was judged
// stale. Returns whether it was removed.
Result<bool> RemoveStaleLock(storage::Storage& storage, const BackupLockInfo& lock,
                             const std::string& lock_key, const std::string& lease_key) {
  auto again = storage.Get(lock_key);
  if (!again.ok()) return false;
  auto owner = ParseOwner(*again);
  bool unchanged = lock.legacy ? !owner : owner && owner->token == lock.owner.token;
  if (!unchanged) return false;
  PGV_RETURN_IF_ERROR(storage.Delete(lease_key));
  PGV_RETURN_IF_ERROR(storage.Delete(lock_key));
  return true;
}

}  // namespace

Result<std::vector<BackupLockInfo>> ListBackupLocks(storage::Storage& storage, const LockEnv& env) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kLocksPrefix));
  std::vector<BackupLockInfo> locks;
  for (const auto& obj : objects) {
    auto id = BackupIdFromLockKey(obj.key);
    if (!id) continue;
    PGV_ASSIGN_OR_RETURN(auto lock,
                         ReadLock(storage, obj.key, BackupLeaseKey(*id), obj.mtime_unix, env));
    if (!lock) continue;
    lock->backup_id = *id;
    locks.push_back(std::move(*lock));
  }
  return locks;
}

Result<std::optional<BackupLockInfo>> FindLiveBackup(storage::Storage& storage) {
  return FindLiveBackup(storage, SystemLockEnv());
}

Result<std::optional<BackupLockInfo>> FindLiveBackup(storage::Storage& storage,
                                                     const LockEnv& env) {
  PGV_ASSIGN_OR_RETURN(auto locks, ListBackupLocks(storage, env));
  std::optional<BackupLockInfo> live;
  for (const auto& lock : locks) {
    if (lock.state == LockState::kLive) {
      if (!live) live = lock;
      continue;
    }
    PGV_ASSIGN_OR_RETURN(bool removed, RemoveStaleLock(storage, lock, BackupLockKey(lock.backup_id),
                                                       BackupLeaseKey(lock.backup_id)));
    if (removed)
      log::Warn("removed the stale lock of backup '{}' ({}): {}", lock.backup_id,
                lock.DescribeOwner(), StaleReason(lock));
  }
  return live;
}

Result<BackupLock> LockGc(storage::Storage& storage) { return LockGc(storage, SystemLockEnv()); }

Result<BackupLock> LockGc(storage::Storage& storage, const LockEnv& env) {
  const std::string lock_key(kGcLockKey), lease_key(kGcLeaseKey);
  LockOwner owner = env.self;
  owner.start_unix = env.now_unix();
  owner.lease_seconds = env.lease_seconds;
  owner.token = ToHex(pipeline::RandomBytes(16));
  std::string content = OwnerJson("gc", owner);
  for (int attempt = 0; attempt < 3; ++attempt) {
    Status put = storage.Put(lock_key, AsBytes(content), {.if_absent = true});
    if (put.ok())
      return BackupLock(
          std::make_unique<BackupLock::State>(storage, "gc", owner, env, lock_key, lease_key));
    if (put.code() != Code::kConflict) return put.Context(fmt::format("taking '{}'", lock_key));
    PGV_ASSIGN_OR_RETURN(auto held, ReadLock(storage, lock_key, lease_key, 0, env));
    if (!held) continue;  // released meanwhile
    if (held->state == LockState::kLive)
      return std::move(Status::Conflict(fmt::format(
                           "gc or expire is running ({}); nothing was collected or expired",
                           held->DescribeOwner())))
          .WithHint(fmt::format(
              "wait for it to finish and retry; if it was killed on another host, its lock "
              "counts until {}, or delete '{}' once you are sure it is not running",
              FormatIsoSeconds(held->renewed_unix + held->owner.lease_seconds), lock_key));
    PGV_ASSIGN_OR_RETURN(bool removed, RemoveStaleLock(storage, *held, lock_key, lease_key));
    if (removed)
      log::Warn("took over the stale gc lock ({}): {}", held->DescribeOwner(), StaleReason(*held));
  }
  return std::move(Status::Conflict(fmt::format("cannot take '{}': it keeps changing", lock_key)))
      .WithHint("another gc or expire is starting; retry");
}

Status BackupRunningError(const BackupLockInfo& lock, int64_t now_unix,
                          std::string_view consequence) {
  int64_t lease = lock.legacy ? kLegacyLockSeconds : lock.owner.lease_seconds;
  int64_t age = now_unix - (lock.legacy ? lock.renewed_unix : lock.owner.start_unix);
  return std::move(
             Status::Conflict(fmt::format("backup '{}' is running ({}, {} ago); {}", lock.backup_id,
                                          lock.DescribeOwner(), Duration(age), consequence)))
      .WithHint(fmt::format(
          "wait for it to finish and retry; if it was killed on another host, its lock "
          "counts until {} ({} after its last renewal), or delete '{}' once you are sure it is "
          "not running",
          FormatIsoSeconds(lock.renewed_unix + lease), Duration(lease),
          BackupLockKey(lock.backup_id)));
}

}  // namespace pgvault::repo

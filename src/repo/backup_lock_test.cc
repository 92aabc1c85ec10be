// Backup locks on the in-memory storage (issue 16): unique ids for concurrent claimers in the
// same second, owned release, stale-lock detection (dead pid on this host, restarted host,
// expired lease, legacy locks), and live locks that block with a message naming their owner.
#include "repo/backup_lock.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/time.h"
#include "repo/layout.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo {
namespace {

constexpr int64_t kNow = 1795900000;  // 2026-11-28T...; any fixed second

struct FakeWorld {
  std::atomic<int64_t> now{kNow};
  std::set<int64_t> running_pids;
};

LockEnv EnvFor(FakeWorld& world, const std::string& host, int64_t pid) {
  LockEnv env;
  env.self.host = host;
  env.self.boot_id = "boot-" + host;
  env.self.pid = pid;
  env.now_unix = [&world] { return world.now.load(); };
  env.pid_alive = [&world](int64_t p) { return world.running_pids.count(p) > 0; };
  env.lease_seconds = 600;
  env.renew_seconds = 0;  // no heartbeat thread: tests renew by hand
  return env;
}

// The repository, the clock and the processes of one test.
class BackupLockTest : public ::testing::Test {
 protected:
  storage::MemStorage mem;
  FakeWorld world;

  LockEnv Env(const std::string& host, int64_t pid) { return EnvFor(world, host, pid); }
  // A lock taken by `pid` on `host`, which is running.
  BackupLock HeldBy(const std::string& host, int64_t pid) {
    world.running_pids.insert(pid);
    auto lock = LockBackup(mem, Env(host, pid));
    EXPECT_TRUE(lock.ok()) << lock.status().ToString();
    return std::move(*lock);
  }
  // The running backup as seen from `host`; nullopt when none is.
  std::optional<BackupLockInfo> LiveSeenFrom(const std::string& host, int64_t pid) {
    auto live = FindLiveBackup(mem, Env(host, pid));
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    return live.ok() ? *live : std::nullopt;
  }
  // The locks as seen from `host`.
  std::vector<BackupLockInfo> LocksSeenFrom(const LockEnv& env) {
    auto locks = ListBackupLocks(mem, env);
    EXPECT_TRUE(locks.ok()) << locks.status().ToString();
    return locks.ok() ? *locks : std::vector<BackupLockInfo>{};
  }
};

TEST_F(BackupLockTest, TwoClaimersInTheSameSecondGetDistinctIds) {
  world.running_pids = {100, 200};
  // Both claim at once, many times over: ids never collide and never go back in time.
  for (int round = 0; round < 20; ++round) {
    std::optional<Result<BackupLock>> first, second;
    std::thread a([&] { first.emplace(LockBackup(mem, EnvFor(world, "db1", 100))); });
    std::thread b([&] { second.emplace(LockBackup(mem, EnvFor(world, "db1", 200))); });
    a.join();
    b.join();
    ASSERT_TRUE(first->ok()) << first->status().ToString();
    ASSERT_TRUE(second->ok()) << second->status().ToString();
    EXPECT_NE((*first)->backup_id(), (*second)->backup_id());
    std::set<std::string> ids = {(*first)->backup_id(), (*second)->backup_id()};
    EXPECT_EQ(ids, (std::set<std::string>{BackupIdAt(kNow), BackupIdAt(kNow + 1)}));
    EXPECT_TRUE((*first)->Release().ok());
    EXPECT_TRUE((*second)->Release().ok());
  }
  EXPECT_TRUE(mem.List(kLocksPrefix)->empty());
}

TEST_F(BackupLockTest, IdIsNewerThanTheNewestBackupAndSkipsIdsWithObjects) {
  // A finished backup one second in the future (clock step) and the leftovers of a killed one
  // at the second after it: neither id is reused.
  ASSERT_TRUE(mem.Put(ManifestKey(BackupIdAt(kNow + 1)), AsBytes("m")).ok());
  ASSERT_TRUE(mem.Put(ManifestPartKey(BackupIdAt(kNow + 2), 0), AsBytes("p")).ok());
  auto lock = LockBackup(mem, EnvFor(world, "db1", 100));
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->backup_id(), BackupIdAt(kNow + 3));
  auto keys = mem.List(kLocksPrefix);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key, BackupLockKey(BackupIdAt(kNow + 3)));
}

TEST_F(BackupLockTest, ReleaseDeletesOnlyItsOwnLock) {
  BackupLock mine = HeldBy("db1", 100);
  std::string key = BackupLockKey(mine.backup_id());
  // Another process's lock now sits under the same key (e.g. taken over after a lease expired).
  Bytes foreign = *mem.Get(key);
  std::string text(AsString(foreign));
  text.replace(text.find("\"token\":\"") + 9, 4, "zzzz");
  ASSERT_TRUE(mem.Put(key, AsBytes(text)).ok());
  EXPECT_TRUE(mine.Release().ok());
  EXPECT_TRUE(mem.Get(key).ok()) << "release removed a lock it does not own";
  EXPECT_TRUE(mine.Release().ok());  // idempotent
}

TEST_F(BackupLockTest, SecondClaimerReleasingLeavesTheFirstOnesLockAndExpireStaysBlocked) {
  BackupLock first = HeldBy("db1", 100);
  { BackupLock second = HeldBy("db1", 200); }  // the second backup ends (its destructor releases)
  auto live = LiveSeenFrom("db2", 300);
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->backup_id, first.backup_id());
  EXPECT_EQ(live->owner.pid, 100);
}

TEST_F(BackupLockTest, LiveLockBlocksWithItsOwnerAgeAndAHint) {
  BackupLock lock = HeldBy("db1", 100);
  world.now = kNow + 400;
  // Seen from this host (pid alive) and from another one (lease not expired).
  for (const char* host : {"db1", "db2"}) {
    auto live = LiveSeenFrom(host, 999);
    ASSERT_TRUE(live.has_value()) << host;
    Status s = BackupRunningError(*live, world.now, "nothing was expired");
    EXPECT_EQ(s.code(), Code::kConflict);
    EXPECT_EQ(s.message(), fmt::format("backup '{}' is running (pid 100 on host 'db1', started "
                                       "{}, 6 min ago); nothing was expired",
                                       lock.backup_id(), FormatIsoSeconds(kNow)));
    EXPECT_NE(s.hint().find("wait for it to finish and retry"), std::string::npos);
    EXPECT_NE(s.hint().find(BackupLockKey(lock.backup_id())), std::string::npos);
  }
  EXPECT_EQ(mem.List(kLocksPrefix)->size(), 1u);
}

TEST_F(BackupLockTest, LockOfADeadPidOnThisHostIsStaleAndRemoved) {
  BackupLock lock = HeldBy("db1", 100);
  world.running_pids.clear();  // killed
  // Another host cannot tell: the lease still holds.
  EXPECT_TRUE(LiveSeenFrom("db2", 300).has_value());
  auto here = LocksSeenFrom(Env("db1", 300));
  ASSERT_EQ(here.size(), 1u);
  EXPECT_EQ(here[0].state, LockState::kOwnerDead);
  EXPECT_FALSE(LiveSeenFrom("db1", 300).has_value());
  EXPECT_TRUE(mem.List(kLocksPrefix)->empty());
  // The dead backup's own release later leaves everything alone.
  EXPECT_TRUE(lock.Release().ok());
}

TEST_F(BackupLockTest, LockOfARestartedHostIsStale) {
  BackupLock lock = HeldBy("db1", 100);
  LockEnv after_reboot = Env("db1", 300);
  after_reboot.self.boot_id = "another-boot";  // pid 100 runs, but it is another process
  auto locks = LocksSeenFrom(after_reboot);
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].state, LockState::kHostRestarted);
}

TEST_F(BackupLockTest, LeaseExpiresUnlessRenewed) {
  BackupLock lock = HeldBy("db1", 100);
  world.now = kNow + 500;
  ASSERT_TRUE(lock.Renew().ok());
  world.now = kNow + 1000;  // 1000 s after start, 500 s after the renewal: still live
  auto locks = LocksSeenFrom(Env("db2", 300));
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].state, LockState::kLive);
  EXPECT_EQ(locks[0].renewed_unix, kNow + 500);
  world.now = kNow + 1101;  // 601 s after the renewal
  locks = LocksSeenFrom(Env("db2", 300));
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].state, LockState::kLeaseExpired);
  EXPECT_FALSE(LiveSeenFrom("db2", 300).has_value());
  EXPECT_TRUE(mem.List(kLocksPrefix)->empty());  // lock and lease removed
}

TEST_F(BackupLockTest, HeartbeatThreadRenewsTheLease) {
  LockEnv env = Env("db1", 100);
  env.renew_seconds = 1;
  auto lock = LockBackup(mem, env);
  ASSERT_TRUE(lock.ok());
  world.now = kNow + 42;
  for (int wait = 0; wait < 50 && !mem.Get(BackupLeaseKey(lock->backup_id())).ok(); ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto locks = LocksSeenFrom(Env("db2", 300));
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].renewed_unix, kNow + 42);
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_TRUE(mem.List(kLocksPrefix)->empty());
}

TEST_F(BackupLockTest, LegacyLockWithoutOwnerCountsForADay) {
  std::string id = "20261128-210423F";
  ASSERT_TRUE(mem.Put(BackupLockKey(id), AsBytes(id)).ok());  // as older versions wrote it
  int64_t written = (*mem.List(kLocksPrefix))[0].mtime_unix;
  world.now = written + 3600;
  auto live = LiveSeenFrom("db1", 300);
  ASSERT_TRUE(live.has_value());
  EXPECT_TRUE(live->legacy);
  EXPECT_EQ(live->backup_id, id);
  world.now = written + 24 * 3600 + 1;
  EXPECT_FALSE(LiveSeenFrom("db1", 300).has_value());
  EXPECT_TRUE(mem.List(kLocksPrefix)->empty());
}

TEST(BackupLockIdTest, IdTimeRoundTrips) {
  EXPECT_EQ(BackupIdAt(0), "19700101-000000F");
  EXPECT_EQ(BackupIdTime(BackupIdAt(kNow)), kNow);
  EXPECT_EQ(BackupIdTime("20261128-210423F"), BackupIdTime("20261128-210423F"));
  EXPECT_FALSE(BackupIdTime("not-an-id").has_value());
  EXPECT_EQ(BackupIdFromLockKey("locks/backup-20261128-210423F"), "20261128-210423F");
  EXPECT_FALSE(BackupIdFromLockKey("locks/backup-20261128-210423F.lease").has_value());
}

}  // namespace
}  // namespace pgvault::repo

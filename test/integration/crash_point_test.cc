// kill -9 at every crash point (src/common/crash_point.h) of backup, archive-push, expire, gc,
// repo-sync and restore, against a real PostgreSQL 15: not a sample of moments but each
// completed repository write and each ordering step of restore's target, one run per point, on
// a fresh copy of the same starting repository. After each kill: the repository verifies, no
// backup is listed that does not verify, the next run of the same command succeeds; a WAL
// segment is either absent or whole; a killed restore leaves a directory marked incomplete that
// PostgreSQL cannot start as if it were whole, and a delta restore into it completes it.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTables = {"ledger"};
constexpr int kMostCrashPoints = 300;  // a command passing more is a runaway, not a test

class CrashPointTest : public ::testing::Test {
 protected:
  // One small cluster archiving into `current`, a link to whichever copy of the repository a
  // test works on (a killed backup's copy must receive the WAL its backup waits for).
  static void SetUpTestSuite() {
    repo_ = new TestRepo(RepoCipher::kKeyFile, {"--pack-size", "1"});
    scratch_ = new TempDir("crash-points");
    fs::create_directory_symlink(repo_->path(), Current());
    source_ =
        PgCluster::Create({.archive_command = ArchivePushCommand(Current(), repo_->key_file())})
            .release();
    // ~3 MB of rows that compress about 2:1: a backup stores a few 1 MiB packs.
    source_->Exec(
        "CREATE TABLE ledger AS SELECT g, md5(g::text) || md5((g * 7)::text) AS m "
        "FROM generate_series(1, 40000) g");
    source_->SwitchWalAndWaitArchived();
  }
  static void TearDownTestSuite() {
    delete source_;
    delete scratch_;
    delete repo_;
  }

  static std::string Current() { return scratch_->Sub("current"); }
  // Points `current` (and so archive_command) at dir.
  static void ArchiveInto(const std::string& dir) {
    fs::remove(Current());
    fs::create_directory_symlink(dir, Current());
  }
  // The WAL archived into a copy goes back into the suite's repository, and archiving with it,
  // before the copy goes: the next copy's WAL has no gap.
  static void ReturnWal(const std::string& copy) {
    ArchiveInto(repo_->path());
    ProcessResult cp = RunAsPostgres({"cp", "-an", copy + "/wal/.", repo_->path() + "/wal/"});
    if (cp.exit_code != 0) throw HarnessError("copying WAL back failed: " + cp.err);
  }

  // pgvault on the repository at dir (the suite's keys), crashing at crash point `at` (0: never).
  // env: more of the environment (PGVAULT_TEST_CRASH_MID=1: the mid-write points count).
  static ProcessResult On(const std::string& dir, std::vector<std::string> args, int at = 0,
                          std::vector<std::string> more_flags = {}, Env env = {}) {
    std::vector<std::string> argv = {"--repo", dir, "--key-file", repo_->key_file()};
    argv.insert(argv.end(), more_flags.begin(), more_flags.end());
    argv.insert(argv.end(), args.begin(), args.end());
    if (at > 0) env.push_back(fmt::format("PGVAULT_TEST_CRASH_AT={}", at));
    return RunPgvault(argv, env);
  }
  static std::vector<std::string> BackupArgs() {
    return {"backup",
            "--pgdata",
            source_->pgdata(),
            "--pg-host",
            "127.0.0.1",
            "--pg-port",
            std::to_string(source_->port()),
            "--jobs",
            "2"};
  }
  // The temp files of the writes a kill interrupted (invisible to every listing).
  static std::vector<std::string> PartialWrites(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().filename().string().starts_with(".pgvault-tmp.")) out.push_back(e.path());
    return out;
  }
  // Once older than gc's grace period, gc removes the temp files of killed writes and what a
  // killed backup left under backups/<id>/ (parts beside its incomplete marker, no manifest), and
  // nothing else: verify then reports neither.
  static void ExpectGcRemovesLeftovers(const std::string& dir) {
    auto age = [](const fs::path& path) {
      fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(2));
    };
    auto partial = PartialWrites(dir);
    for (const auto& path : partial) age(path);
    size_t interrupted = 0;
    if (fs::exists(dir + "/backups"))
      for (const auto& backup : fs::directory_iterator(dir + "/backups")) {
        if (!fs::exists(backup.path() / "incomplete") || fs::exists(backup.path() / "manifest"))
          continue;
        ++interrupted;
        for (const auto& e : fs::recursive_directory_iterator(backup.path())) age(e.path());
      }
    ProcessResult gc = On(dir, {"gc", "--json"});
    ASSERT_EQ(gc.exit_code, 0) << gc.err;
    auto report = nlohmann::json::parse(gc.out);
    EXPECT_EQ(report["partial_writes_removed"], partial.size()) << gc.out;
    EXPECT_EQ(report["interrupted_backups_removed"].size(), interrupted) << gc.out;
    EXPECT_TRUE(PartialWrites(dir).empty());
    ProcessResult v = On(dir, {"verify"});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_EQ(v.out.find("was interrupted"), std::string::npos) << v.out;
  }

  static void ExpectVerifies(const std::string& dir, const std::string& when) {
    ProcessResult v = On(dir, {"verify"});
    EXPECT_EQ(v.exit_code, 0) << when << ": verify failed: " << v.out << v.err;
  }
  static nlohmann::json Info(const std::string& dir) {
    ProcessResult r = On(dir, {"info", "--json"});
    if (r.exit_code != 0) throw HarnessError("info failed: " + r.err);
    return nlohmann::json::parse(r.out);
  }

  // Runs `command` on a fresh copy of `start` crashing at point 1, 2, ... until a run ends by
  // itself; after each kill, `check(copy, point)`. Returns the number of crash points.
  static int ForEveryCrashPoint(
      const std::string& name, const std::string& start,
      const std::function<ProcessResult(const std::string&, int)>& command,
      const std::function<void(const std::string&, int)>& check) {
    int points = 0;
    for (int at = 1; at <= kMostCrashPoints; ++at) {
      SCOPED_TRACE(fmt::format("{}: crash point {}", name, at));
      std::string copy = scratch_->Sub(fmt::format("{}-{}", name, at));
      CopyTree(start, copy);
      ProcessResult r = command(copy, at);
      if (r.exit_code != -SIGKILL) {
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        fs::remove_all(copy);
        ReportFigure(name + ": crash points exercised", std::to_string(points));
        return points;
      }
      EXPECT_NE(r.err.find(fmt::format("crash point {}: ", at)), std::string::npos) << r.err;
      ++points;
      check(copy, at);
      fs::remove_all(copy);
      if (::testing::Test::HasFatalFailure()) break;
    }
    ADD_FAILURE() << name << " passed more than " << kMostCrashPoints << " crash points";
    return points;
  }

  // A restore of the newest backup of dir into a new directory, started: its tables match
  // `expected`.
  static void ExpectRestores(const std::string& dir,
                             const std::map<std::string, std::string>& expected) {
    TempDir target("crash-point-restore");
    ProcessResult r = On(dir, {"restore", "--pgdata", target.Sub("pgdata")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto restored = PgCluster::Adopt(target.Sub("pgdata"));
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, kTables), expected);
  }

  static TestRepo* repo_;
  static TempDir* scratch_;
  static PgCluster* source_;
};

TestRepo* CrashPointTest::repo_ = nullptr;
TempDir* CrashPointTest::scratch_ = nullptr;
PgCluster* CrashPointTest::source_ = nullptr;

TEST_F(CrashPointTest, BackupKilledAtEveryWrite) {
  int points = ForEveryCrashPoint(
      "backup", repo_->path(),
      [](const std::string& copy, int at) {
        ArchiveInto(copy);
        ProcessResult r = On(copy, BackupArgs(), at);
        if (r.exit_code == 0) ReturnWal(copy);
        return r;
      },
      [](const std::string& copy, int) {
        // No half backup is listed (what is listed verifies), and the next backup works: the
        // killed one's lock is stale (its pid is gone) and is taken over.
        ExpectVerifies(copy, "after the kill");
        size_t listed = Info(copy)["backups"].size();
        EXPECT_LE(listed, 1u);
        ExpectGcRemovesLeftovers(copy);
        source_->WaitForNoOtherSessions();
        ProcessResult next = On(copy, BackupArgs());
        EXPECT_EQ(next.exit_code, 0) << next.err;
        EXPECT_EQ(Info(copy)["backups"].size(), listed + 1);
        ExpectVerifies(copy, "after the next backup");
        ReturnWal(copy);
      });
  EXPECT_GE(points, 5);
}

TEST_F(CrashPointTest, BackupKilledMidWriteLeavesOnlyATempFileThatGcRemoves) {
  size_t listed = Info(repo_->path())["backups"].size();
  int points = ForEveryCrashPoint(
      "backup mid-write", repo_->path(),
      [](const std::string& copy, int at) {
        ArchiveInto(copy);
        ProcessResult r = On(copy, BackupArgs(), at, {}, {"PGVAULT_TEST_CRASH_MID=1"});
        if (r.exit_code == 0) ReturnWal(copy);
        return r;
      },
      [&](const std::string& copy, int) {
        // Half an object in a temp file (one per backup job: the other job may be writing too);
        // the repository verifies and lists no new backup.
        size_t partial = PartialWrites(copy).size();
        EXPECT_GE(partial, 1u);
        EXPECT_LE(partial, 2u);  // BackupArgs: --jobs 2
        ExpectVerifies(copy, "after the kill");
        EXPECT_EQ(Info(copy)["backups"].size(), listed);
        ExpectGcRemovesLeftovers(copy);
        source_->WaitForNoOtherSessions();
        ReturnWal(copy);
      });
  EXPECT_GE(points, 5);
}

TEST_F(CrashPointTest, ArchivePushKilledAtEveryWriteIsNeverAcknowledgedHalfStored) {
  // A real segment, pushed into a repository that does not hold it yet.
  std::string segment = source_->SwitchWalAndWaitArchived();
  std::string wal = scratch_->Sub(segment);
  ProcessResult got = On(repo_->path(), {"archive-get", segment, wal});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  TestRepo empty(RepoCipher::kKeyFile);
  std::string start = scratch_->Sub("empty");
  CopyTree(empty.path(), start);
  // The copy has its own keys: `On` would use the suite's key file.
  auto on_empty = [&](const std::string& dir, std::vector<std::string> args, int at, Env env = {}) {
    if (at > 0) env.push_back(fmt::format("PGVAULT_TEST_CRASH_AT={}", at));
    std::vector<std::string> argv = {"--repo", dir, "--key-file", empty.key_file()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunPgvault(argv, env);
  };
  std::string original = ReadFile(wal);
  for (bool mid : {false, true}) {
    int points = ForEveryCrashPoint(
        mid ? "archive-push mid-write" : "archive-push", start,
        [&](const std::string& copy, int at) {
          return on_empty(copy, {"archive-push", wal}, at,
                          mid ? Env{"PGVAULT_TEST_CRASH_MID=1"} : Env{});
        },
        [&](const std::string& copy, int) {
          if (mid) {
            EXPECT_EQ(PartialWrites(copy).size(), 1u);
          }
          // Killed: PostgreSQL saw no success and will push again. Whatever was stored is the
          // whole segment or nothing, and the retry succeeds and stores exactly it.
          std::string got = scratch_->Sub("got-" + segment);
          ProcessResult g = on_empty(copy, {"archive-get", segment, got}, 0);
          if (g.exit_code == 0) {
            EXPECT_EQ(ReadFile(got), original);
          }
          fs::remove(got);
          ProcessResult retry = on_empty(copy, {"archive-push", wal}, 0);
          EXPECT_EQ(retry.exit_code, 0) << retry.err;
          g = on_empty(copy, {"archive-get", segment, got}, 0);
          EXPECT_EQ(g.exit_code, 0) << g.err;
          if (g.exit_code == 0) {
            EXPECT_EQ(ReadFile(got), original);
          }
          fs::remove(got);
          ProcessResult v = on_empty(copy, {"verify"}, 0);
          EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
        });
    EXPECT_GE(points, 1);
  }
}

// The asynchronous pusher (archive-push --archive-async) killed at each of its writes and
// acknowledgements (its .ok results), as PostgreSQL drives it: archive-push of the first ready
// segment waits for the pusher and starts a new one when it died; the other segments are pushed
// as PostgreSQL retries them. A .ok result, and archive-push's success, mean the segment is
// stored whole; every segment ends up stored exactly once, whole.
TEST_F(CrashPointTest, AsyncPusherKilledAtEveryWriteAcknowledgesOnlyStoredSegments) {
  std::vector<std::string> segments;
  std::map<std::string, std::string> original;
  std::string fetched = scratch_->Sub("async-segments");
  fs::create_directory(fetched);
  // archive-get runs as postgres and writes into it.
  ASSERT_EQ(std::system(fmt::format("chown postgres: '{}'", fetched).c_str()), 0);
  for (int n = 0; n < 3; ++n) {
    source_->Exec(fmt::format("INSERT INTO ledger VALUES ({}, 'async')", -n));
    segments.push_back(source_->SwitchWalAndWaitArchived());
    std::string path = fetched + "/" + segments.back();
    ProcessResult got = On(repo_->path(), {"archive-get", segments.back(), path});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    original[segments.back()] = ReadFile(path);
  }
  TestRepo empty(RepoCipher::kKeyFile);
  std::string start = scratch_->Sub("async-empty");
  CopyTree(empty.path(), start);

  auto push = [&](const std::string& dir, const std::string& wal_dir, const std::string& segment,
                  Env env) {
    return RunPgvault({"--repo", dir, "--key-file", empty.key_file(), "--archive-async",
                       "--spool-path", dir + "-spool", "--jobs", "1", "--archive-timeout", "60",
                       "archive-push", wal_dir + "/" + segment},
                      env);
  };
  auto stored_whole = [&](const std::string& dir, const std::string& segment) {
    std::string got = dir + "-got";
    ProcessResult g = RunPgvault(
        {"--repo", dir, "--key-file", empty.key_file(), "archive-get", segment, got}, {});
    bool whole = g.exit_code == 0 && ReadFile(got) == original[segment];
    fs::remove(got);
    return whole;
  };
  // PostgreSQL marks a segment done when archive-push succeeded; the pusher exits once idle.
  auto done = [](const std::string& wal_dir, const std::string& segment) {
    fs::rename(wal_dir + "/archive_status/" + segment + ".ready",
               wal_dir + "/archive_status/" + segment + ".done");
  };
  auto wait_pusher_gone = [](const std::string& spool) {
    for (int tries = 0; tries < 600; ++tries) {
      int fd = ::open((spool + "/pusher.lock").c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) return;
      bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
      ::close(fd);
      if (free) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw HarnessError("the background pusher did not exit within 30 s");
  };

  int points = 0;
  for (int at = 1; at <= kMostCrashPoints; ++at) {
    SCOPED_TRACE(fmt::format("async pusher: crash point {}", at));
    std::string copy = scratch_->Sub(fmt::format("async-{}", at));
    std::string wal_dir = copy + "-pg_wal", spool = copy + "-spool", fired = copy + "-fired";
    CopyTree(start, copy);
    fs::create_directories(wal_dir + "/archive_status");
    for (const auto& segment : segments) {
      fs::copy_file(fetched + "/" + segment, wal_dir + "/" + segment);
      WriteFile(wal_dir + "/archive_status/" + segment + ".ready", "");
    }
    ASSERT_EQ(std::system(fmt::format("chown -R postgres: '{}'", wal_dir).c_str()), 0);
    Env crash = {fmt::format("PGVAULT_TEST_CRASH_AT={}", at), "PGVAULT_TEST_CRASH_ONCE=" + fired};
    ProcessResult first = push(copy, wal_dir, segments[0], crash);
    EXPECT_EQ(first.exit_code, 0) << first.err;
    if (first.exit_code == 0) {
      EXPECT_TRUE(stored_whole(copy, segments[0])) << "acknowledged, not stored";
      done(wal_dir, segments[0]);
    }
    wait_pusher_gone(spool);
    bool killed = fs::exists(fired);
    if (killed) {
      ++points;
      EXPECT_NE(ReadFile(spool + "/pusher.log").find(fmt::format("crash point {}: ", at)),
                std::string::npos);
      for (const auto& segment : segments)
        if (fs::exists(spool + "/out/" + segment + ".ok")) {
          EXPECT_TRUE(stored_whole(copy, segment)) << segment << " acknowledged, not stored";
        }
    }
    // PostgreSQL pushes the rest; then every segment is stored whole and the repository verifies.
    for (const auto& segment : segments) {
      if (!fs::exists(wal_dir + "/archive_status/" + segment + ".ready")) continue;
      ProcessResult retry = push(copy, wal_dir, segment, {});
      EXPECT_EQ(retry.exit_code, 0) << retry.err;
      done(wal_dir, segment);
    }
    wait_pusher_gone(spool);
    for (const auto& segment : segments) EXPECT_TRUE(stored_whole(copy, segment)) << segment;
    ProcessResult v = RunPgvault({"--repo", copy, "--key-file", empty.key_file(), "verify"}, {});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    for (const auto& dir : {copy, wal_dir, spool}) fs::remove_all(dir);
    fs::remove(fired);
    if (!killed || ::testing::Test::HasFailure()) break;
  }
  ReportFigure("async pusher: crash points exercised", std::to_string(points));
  EXPECT_GE(points, 4);
}

TEST_F(CrashPointTest, ExpireGcAndRepoSyncKilledAtEveryWriteKeepWhatKeptBackupsNeed) {
  // Three backups with changes between them; the first one goes.
  std::string start = scratch_->Sub("three-backups");
  CopyTree(repo_->path(), start);
  ArchiveInto(start);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    source_->Exec(fmt::format("UPDATE ledger SET m = md5(m) WHERE g % 3 = {}", i));
    ProcessResult b = On(start, BackupArgs());
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(BackupIdFromSummary(b.out));
    ASSERT_FALSE(ids.back().empty()) << b.out;
  }
  source_->SwitchWalAndWaitArchived();
  auto expected = TableChecksums(*source_, kTables);
  ReturnWal(start);

  auto kept_backups_verify = [&](const std::string& copy) {
    ExpectVerifies(copy, "after the kill");
    std::set<std::string> listed;
    nlohmann::json info = Info(copy);  // held: a loop over a temporary's member would dangle
    for (const auto& b : info["backups"]) listed.insert(b["id"].get<std::string>());
    EXPECT_TRUE(listed.count(ids[1]) && listed.count(ids[2])) << "a kept backup is gone";
  };
  std::vector<std::string> expire = {"expire", "--backup", ids[0], "--gc-grace", "0"};
  ForEveryCrashPoint(
      "expire", start, [&](const std::string& copy, int at) { return On(copy, expire, at); },
      [&](const std::string& copy, int) {
        kept_backups_verify(copy);
        // The next expire finishes the job, or finds it finished and says which backup it
        // did not find.
        ProcessResult again = On(copy, expire);
        if (again.exit_code != 0) {
          EXPECT_NE(again.err.find(ids[0]), std::string::npos) << again.err;
        }
        kept_backups_verify(copy);
        nlohmann::json info = Info(copy);
        for (const auto& b : info["backups"]) EXPECT_NE(b["id"], ids[0]);
      });

  // gc after expire: the first run marks, a second (grace 0) deletes; both are killed at every
  // write.
  ASSERT_EQ(On(start, expire).exit_code, 0);
  std::vector<std::string> gc = {"gc", "--gc-grace", "0"};
  for (const char* run : {"gc-mark", "gc-delete"}) {
    int points = ForEveryCrashPoint(
        run, start, [&](const std::string& copy, int at) { return On(copy, gc, at); },
        [&](const std::string& copy, int) {
          kept_backups_verify(copy);
          ProcessResult again = On(copy, gc);
          EXPECT_EQ(again.exit_code, 0) << again.err;
          kept_backups_verify(copy);
        });
    EXPECT_GE(points, 1) << run;
    ASSERT_EQ(On(start, gc).exit_code, 0);
  }
  ExpectRestores(start, expected);

  // repo-sync into a replica that has only the repository's config: killed at every write, the
  // replica verifies and the next sync completes it.
  std::string replica = scratch_->Sub("replica-start");
  CopyTree(repo_->path(), replica);
  for (const auto& f : FilesUnder(replica))
    if (!f.starts_with("config") && !f.starts_with("keys")) fs::remove(replica + "/" + f);
  int points = ForEveryCrashPoint(
      "repo-sync", replica,
      [&](const std::string& copy, int at) {
        return On(start, {"repo-sync"}, at, {"--repo2", copy});
      },
      [&](const std::string& copy, int) {
        // Killed, the replica may lack WAL segments in the middle (they are copied in parallel);
        // nothing it holds is damaged and every backup it lists verifies.
        ProcessResult v = On(copy, {"verify"});
        if (v.exit_code != 0) {
          EXPECT_NE(v.out.find("segments missing"), std::string::npos) << v.out << v.err;
          EXPECT_EQ(v.out.find("DAMAGED"), std::string::npos) << v.out;
          nlohmann::json info = Info(copy);
          for (const auto& b : info["backups"]) {
            ProcessResult one = On(copy, {"verify", "--backup", b["id"].get<std::string>()});
            EXPECT_EQ(one.exit_code, 0) << one.out << one.err;
          }
        }
        ProcessResult again = On(start, {"repo-sync"}, 0, {"--repo2", copy});
        EXPECT_EQ(again.exit_code, 0) << again.err;
        ExpectVerifies(copy, "replica after the next sync");
        EXPECT_EQ(Info(copy)["backups"].size(), 2u);
      });
  EXPECT_GE(points, 3);
}

TEST_F(CrashPointTest, RestoreKilledAtEveryStepIsMarkedIncompleteAndCannotStartAsWhole) {
  std::string start = scratch_->Sub("one-backup");
  CopyTree(repo_->path(), start);
  ArchiveInto(start);
  ASSERT_EQ(On(start, BackupArgs()).exit_code, 0);
  source_->SwitchWalAndWaitArchived();
  auto expected = TableChecksums(*source_, kTables);
  ReturnWal(start);

  int points = 0;
  for (int at = 1; at <= kMostCrashPoints; ++at) {
    SCOPED_TRACE(fmt::format("restore: crash point {}", at));
    TempDir target("crash-point-target");
    std::string pgdata = target.Sub("pgdata");
    ProcessResult r = On(start, {"restore", "--pgdata", pgdata}, at);
    if (r.exit_code != -SIGKILL) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      break;
    }
    ++points;
    // Marked incomplete; PostgreSQL cannot start without pg_control, and pg_control is written
    // only after the recovery settings (so a directory that has it recovers from the archive).
    bool marked = fs::exists(pgdata + "/PGVAULT_RESTORE_INCOMPLETE");
    bool has_control = fs::exists(pgdata + "/global/pg_control");
    // Only the last point, after the marker went, leaves a directory that is not marked: a
    // whole one.
    EXPECT_TRUE(marked || !fs::exists(pgdata) || has_control) << r.err;
    if (has_control) {
      EXPECT_TRUE(fs::exists(pgdata + "/recovery.signal"));
      EXPECT_TRUE(fs::exists(pgdata + "/backup_label"));
    }
    if (!fs::exists(pgdata)) continue;
    // A plain restore into it refuses and says why; a delta restore completes it.
    ProcessResult plain = On(start, {"restore", "--pgdata", pgdata});
    if (marked) {
      EXPECT_NE(plain.exit_code, 0);
      EXPECT_NE(plain.err.find("incomplete restore"), std::string::npos) << plain.err;
    }
    ProcessResult delta = On(start, {"restore", "--delta", "--pgdata", pgdata});
    ASSERT_EQ(delta.exit_code, 0) << delta.err;
    auto restored = PgCluster::Adopt(pgdata);
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, kTables), expected);
  }
  ReportFigure("restore: crash points exercised", std::to_string(points));
  EXPECT_GE(points, 7);
}

}  // namespace
}  // namespace pgvault::test

// WAL collection against a real PostgreSQL 15 (issue 10): five daily backups with pgbench load
// between them under a policy of daily 2d, monthly 12m and a PITR window of 1d, taken and
// expired with --now. expire deletes the WAL between the kept monthly backup's end and the PITR
// window (its dry run says exactly what goes), also while a backup and archive-push (pgbench with
// archive_command) run, and survives kill -9 of itself and of gc at several points: verify passes,
// every kept backup restores to its own end with its data, PITR to a mark inside the window
// works, and the WAL under wal/ shrank. A backup older than the PITR window restores to its own
// end when no target is given, and a target its kept WAL cannot reach is refused up front. Run on
// a local repository and on one in a bucket of the test Ceph RADOS Gateway (suites
// Posix/WalGcTest and S3/WalGcTest).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "s3_gateway.h"

namespace pgvault::test {
namespace {

const std::vector<std::string> kPolicy = {"--retention-daily", "2d", "--retention-monthly", "12m",
                                          "--retention-pitr",  "1d"};
constexpr char kFirstNow[] = "2030-01-05T12:00:00Z";   // daily backups 2 and 3 go
constexpr char kSecondNow[] = "2030-01-06T12:00:00Z";  // the window moves on (4 is pinned)

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

struct WalBytes {
  uint64_t files = 0, bytes = 0;
  std::set<std::string> names;
};
WalBytes WalUnder(const TestRepo& repo) {
  WalBytes w;
  for (const auto& [key, size] : repo.Objects("wal/")) {
    w.files++;
    w.bytes += size;
    w.names.insert(key.substr(key.rfind('/') + 1));
  }
  return w;
}

// Every segment start_wal..stop_wal of every backup info lists is stored (16 MiB segments: 256
// to a "log id", the middle 8 hex digits).
void ExpectOwnWalOfEveryBackup(const TestRepo& repo, const std::string& when) {
  WalBytes w = WalUnder(repo);
  auto segno = [](const std::string& name) {
    return std::stoull(name.substr(8, 8), nullptr, 16) * 256 +
           std::stoull(name.substr(16, 8), nullptr, 16);
  };
  nlohmann::json info = repo.Info();  // held: a range-for over a member of a temporary dangles
  ASSERT_FALSE(info["backups"].empty()) << when;
  for (const auto& b : info["backups"]) {
    std::string start = b["start_wal"], stop = b["stop_wal"];
    // And the segment after the stop (recovery reads the record after the backup's end there)
    // once it is archived, i.e. once a later segment is.
    uint64_t last = segno(stop) + 1, newest = 0;
    for (const auto& name : w.names)
      if (name.size() == 24 && name.substr(0, 8) == start.substr(0, 8))
        newest = std::max<uint64_t>(newest, segno(name));
    if (newest <= last) last = segno(stop);
    for (uint64_t n = segno(start); n <= last; ++n) {
      std::string name = fmt::format("{}{:08X}{:08X}", start.substr(0, 8), n / 256, n % 256);
      EXPECT_TRUE(w.names.count(name)) << when << ": backup " << b["id"] << " lost " << name;
    }
  }
}

// verify passes: what a kill leaves (parts beside an incomplete marker, stale locks, temp
// files) is reported as a warning, never as damage.
void ExpectVerifyPasses(const TestRepo& repo, const std::string& when) {
  ProcessResult v = repo.Run({"verify"});
  EXPECT_EQ(v.exit_code, 0) << when << "\n" << v.out << v.err;
}

// `days` daily backups under kPolicy at 02:00 of 2030-01-01 and the days after; their ids and
// the table checksums each holds. Before every backup but the first, pgbench load in two segments
// of its own (`transactions` per client), so that WAL lies between one backup's own range (which
// ends with the segment after its stop) and the next backup's start.
void DailyBackups(const TestRepo& repo, PgCluster& source, int days, int transactions,
                  std::vector<std::string>& ids,
                  std::vector<std::map<std::string, std::string>>& sums) {
  for (int day = 1; day <= days; ++day) {
    for (int round = 0; round < (day > 1 ? 2 : 0); ++round) {
      source.RunPgbench({"-n", "-c", "2", "-t", std::to_string(transactions)});
      source.SwitchWalAndWaitArchived();
    }
    ProcessResult b = repo.Backup(
        source, With({"--jobs", "1", "--now", fmt::format("2030-01-0{}T02:00:00Z", day)}, kPolicy));
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(BackupIdFromSummary(b.out));
    sums.push_back(TableChecksums(source, kPgbenchTables));
  }
}

// SIGKILL after `ms` milliseconds (or when it ends first); its exit code.
int KillAfter(const TestRepo& repo, const std::vector<std::string>& args, int ms) {
  auto p = StartPgvault(With(repo.Flags(), args), repo.env());
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (p->Running()) p->Signal(SIGKILL);
  return p->Wait().exit_code;
}

class WalGcTest : public RepoStoreTest {};

TEST_P(WalGcTest, ExpireTrimsWalWhileBackupAndArchiveRunAndSurvivesKills) {
  auto started = std::chrono::steady_clock::now();
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kNone);
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "2", "-q"});
  source->SwitchWalAndWaitArchived();
  std::vector<std::string> ids;
  std::vector<std::map<std::string, std::string>> sums;
  ASSERT_NO_FATAL_FAILURE(DailyBackups(repo, *source, 5, 150, ids, sums));
  WalBytes before = WalUnder(repo);

  // The dry run names what goes; nothing is removed.
  std::vector<std::string> expire = With({"expire", "--json", "--gc-grace", "0"}, kPolicy);
  ProcessResult dry = repo.Run(With(expire, {"--now", kFirstNow, "--dry-run"}));
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  auto plan = nlohmann::json::parse(dry.out);
  EXPECT_EQ(plan["pitr_from_backup"], ids[3]) << dry.out;
  const auto& wal = plan["wal"];
  ASSERT_GT(wal["files_deleted"].get<uint64_t>(), 2u) << dry.out;
  EXPECT_EQ(wal["files_before"].get<uint64_t>(), before.files);
  EXPECT_EQ(WalUnder(repo).files, before.files);
  std::string window_start = repo.Info()["backups"][3]["start_wal"];
  EXPECT_TRUE(before.names.count(wal["first_deleted"].get<std::string>())) << dry.out;
  EXPECT_LT(wal["last_deleted"].get<std::string>(), window_start) << dry.out;

  // kill -9 of expire at several points; each time verify passes and no kept backup lost WAL.
  std::string kill_codes;
  for (int ms : {4, 10, 20}) {
    int code = KillAfter(repo, With(expire, {"--now", kFirstNow}), ms);
    kill_codes += fmt::format("expire@{}ms={} ", ms, code);
    std::string when = fmt::format("expire killed after {} ms (exit {})", ms, code);
    ExpectVerifyPasses(repo, when);
    ExpectOwnWalOfEveryBackup(repo, when);
  }
  ProcessResult real = repo.Run(With(expire, {"--now", kFirstNow}));
  ASSERT_EQ(real.exit_code, 0) << real.err;
  auto done = nlohmann::json::parse(real.out);
  // The killed runs may have expired some already: what this run keeps is what the plan kept.
  std::set<std::string> planned_kept, left;
  for (const auto& b : plan["backups"])
    if (b["action"] == "keep") planned_kept.insert(b["id"].get<std::string>());
  for (const auto& b : done["backups"])
    if (b["action"] == "keep") left.insert(b["id"].get<std::string>());
  EXPECT_EQ(left, planned_kept);
  EXPECT_EQ(planned_kept, (std::set<std::string>{ids[0], ids[3], ids[4]}));
  WalBytes after_first = WalUnder(repo);
  // Whatever the killed runs left, the dry run's list is gone and nothing else.
  std::set<std::string> gone;
  for (const auto& name : before.names)
    if (!after_first.names.count(name)) gone.insert(name);
  EXPECT_EQ(gone.size(), wal["files_deleted"].get<uint64_t>());
  EXPECT_EQ(*gone.begin(), wal["first_deleted"].get<std::string>());
  EXPECT_EQ(*gone.rbegin(), wal["last_deleted"].get<std::string>());
  for (const auto& name : gone) EXPECT_EQ(name.find(".history"), std::string::npos) << name;

  // Backup 4 pinned: a later expire moves the window to backup 5 and trims the WAL between
  // them, while pgbench writes (archive_command archives) and a backup runs.
  ASSERT_EQ(repo.Run({"backup", "pin", "--backup", ids[3]}).exit_code, 0);
  auto load = source->StartPgbench({"-n", "-c", "2", "-T", "6"});
  auto backup = StartPgvault(
      With(repo.Flags(),
           With({"backup", "--pgdata", source->pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
                 std::to_string(source->port()), "--jobs", "1", "--now", "2030-01-06T02:00:00Z"},
                kPolicy)),
      repo.env());
  int concurrent_runs = 0, concurrent_wal_deleted = 0;
  while (backup->Running()) {
    ProcessResult e = repo.Run(With(expire, {"--now", kSecondNow}));
    EXPECT_TRUE(e.exit_code == 0 || e.exit_code == kExitConflict) << e.err;
    if (e.exit_code == 0)
      concurrent_wal_deleted += nlohmann::json::parse(e.out)["wal"]["files_deleted"].get<int>();
    ProcessResult g = repo.Run({"gc", "--gc-grace", "0"});
    EXPECT_TRUE(g.exit_code == 0 || g.exit_code == kExitConflict) << g.err;
    concurrent_runs++;
    source->Exec("SELECT pg_switch_wal()");
  }
  ProcessResult last = backup->Wait();
  ASSERT_EQ(last.exit_code, 0) << last.err;
  ids.push_back(BackupIdFromSummary(last.out));
  load->Wait();
  source->WaitForNoOtherSessions();
  EXPECT_GT(concurrent_runs, 0);

  // kill -9 of gc at several points (it marks, then deletes what an earlier run marked).
  for (int ms : {4, 10, 20}) {
    int code = KillAfter(repo, {"gc", "--gc-grace", "0"}, ms);
    kill_codes += fmt::format("gc@{}ms={} ", ms, code);
    std::string when = fmt::format("gc killed after {} ms (exit {})", ms, code);
    ExpectVerifyPasses(repo, when);
    ExpectOwnWalOfEveryBackup(repo, when);
  }
  // A mark inside the window, after every backup.
  source->Exec("CREATE TABLE mark AS SELECT 1 AS i");
  source->Exec("SELECT pg_create_restore_point('inside_window')");
  auto mark_sums = TableChecksums(*source, With(kPgbenchTables, {"mark"}));
  source->SwitchWalAndWaitArchived();
  ProcessResult final_expire = repo.Run(With(expire, {"--now", kSecondNow}));
  ASSERT_EQ(final_expire.exit_code, 0) << final_expire.err;
  auto final_plan = nlohmann::json::parse(final_expire.out);
  // The concurrent backup (2030-01-06T02:00) is inside the window; backup 5 is its oldest.
  EXPECT_EQ(final_plan["pitr_from_backup"], ids[4]) << final_expire.out;
  for (int run = 0; run < 2; ++run) ASSERT_EQ(repo.Run({"gc", "--gc-grace", "0"}).exit_code, 0);
  ExpectVerifyPasses(repo, "the end");
  WalBytes after = WalUnder(repo);
  ReportFigure("wal_before", fmt::format("{} files, {} bytes", before.files, before.bytes));
  ReportFigure("wal_after_first_expire",
               fmt::format("{} files, {} bytes", after_first.files, after_first.bytes));
  ReportFigure("wal_after", fmt::format("{} files, {} bytes (more archived meanwhile)", after.files,
                                        after.bytes));
  ReportFigure("concurrent_expire_gc_runs", std::to_string(concurrent_runs));
  ReportFigure("kill_exit_codes", kill_codes);
  ReportFigure("wal_files_deleted_while_backup_ran", std::to_string(concurrent_wal_deleted));
  EXPECT_GT(concurrent_wal_deleted, 0);
  EXPECT_LT(after_first.bytes, before.bytes);

  // Every kept backup restores to its own end with its data.
  std::set<std::string> remaining;
  nlohmann::json info = repo.Info();
  for (const auto& b : info["backups"]) remaining.insert(b["id"].get<std::string>());
  EXPECT_EQ(remaining, (std::set<std::string>{ids[0], ids[3], ids[4], ids[5]}));
  for (size_t i : {0, 3, 4}) {
    TempDir target("restore");
    std::string pgdata = target.Sub("pgdata");
    ProcessResult r = repo.Run({"restore", "--pgdata", pgdata, "--backup", ids[i],
                                "--target-immediate", "--target-action", "promote"});
    ASSERT_EQ(r.exit_code, 0) << ids[i] << "\n" << r.err;
    auto restored = PgCluster::Adopt(pgdata, {.env = repo.env()});
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, kPgbenchTables), sums[i]) << "backup " << i + 1;
    restored->Stop();
  }
  // PITR from the window's oldest backup to the mark.
  TempDir target("pitr");
  std::string pgdata = target.Sub("pgdata");
  ProcessResult r = repo.Run({"restore", "--pgdata", pgdata, "--backup", ids[4], "--target-name",
                              "inside_window", "--target-action", "promote"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto restored = PgCluster::Adopt(pgdata, {.env = repo.env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, With(kPgbenchTables, {"mark"})), mark_sums);
  restored->Stop();
  ReportFigure("wal_gc_test_seconds",
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count()));
}

bool EmptyDir(const std::string& dir) { return FilesUnder(dir, "").empty(); }

TEST_P(WalGcTest, OlderBackupRestoresToItsEndAndUnreachableTargetsAreRefused) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kNone);
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "1", "-q"});
  source->SwitchWalAndWaitArchived();
  std::vector<std::string> ids;
  std::vector<std::map<std::string, std::string>> sums;
  ASSERT_NO_FATAL_FAILURE(DailyBackups(repo, *source, 4, 100, ids, sums));
  source->SwitchWalAndWaitArchived();
  // Backups 2 and 3 go; backup 1 (monthly) stays with its own WAL, backup 4 opens the window.
  ProcessResult e = repo.Run(
      With({"expire", "--json", "--gc-grace", "0", "--now", "2030-01-05T12:00:00Z"}, kPolicy));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto done = nlohmann::json::parse(e.out);
  ASSERT_EQ(done["pitr_from_backup"], ids[3]) << e.out;
  ASSERT_GT(done["wal"]["files_deleted"].get<uint64_t>(), 0u) << e.out;

  // No target: the end of backup 1, said in one line; the server starts with backup 1's data.
  TempDir target("older");
  std::string pgdata = target.Sub("pgdata");
  ProcessResult r = repo.Run({"restore", "--pgdata", pgdata, "--backup", ids[0]});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("backup {} is older than the PITR window: restoring to its end "
                                   "(recovery_target = 'immediate')",
                                   ids[0])),
            std::string::npos)
      << r.out;
  auto restored = PgCluster::Adopt(pgdata, {.env = repo.env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kPgbenchTables), sums[0]);
  restored->Stop();

  // A time after backup 1 but before the window: no backup reaches it.
  TempDir refused("refused");
  std::string empty = refused.Sub("pgdata");
  ASSERT_EQ(::mkdir(empty.c_str(), 0700), 0);
  ProcessResult t =
      repo.Run({"restore", "--pgdata", empty, "--target-time", "2030-01-02 12:00:00+00"});
  EXPECT_EQ(t.exit_code, kExitInvalidArgument) << t.out << t.err;
  std::string text = ErrorText(t.err);
  EXPECT_NE(text.find(fmt::format("backup '{}' is older than the PITR window", ids[0])),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("HINT: no backup can reach it: the PITR window starts with "
                                  "backup {}",
                                  ids[3])),
            std::string::npos)
      << text;
  EXPECT_TRUE(EmptyDir(empty));
  // An LSN after the window's start with --backup of the older one: backup 4 can reach it.
  std::string lsn = source->Scalar("SELECT pg_current_wal_lsn()");
  ProcessResult l =
      repo.Run({"restore", "--pgdata", empty, "--backup", ids[0], "--target-lsn", lsn});
  EXPECT_EQ(l.exit_code, kExitInvalidArgument) << l.out << l.err;
  text = ErrorText(l.err);
  EXPECT_NE(
      text.find(fmt::format("HINT: backup {} is the oldest backup that can reach it", ids[3])),
      std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_TRUE(EmptyDir(empty));
}

INSTANTIATE_REPO_STORES(WalGcTest);

}  // namespace
}  // namespace pgvault::test

// Asynchronous archive-push under pgbench load: PostgreSQL never sees a failure, a kill -9 of the
// background worker loses no segment, and the archive restores to exactly the source's data.
// Also measures push throughput (sync and async), archive lag, and recovery with and without
// archive-get prefetch.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "pg/session.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One string with row count and md5 of every pgbench table; the same SQL runs inside a mark's
// transaction and on the restored copy.
constexpr char kSumsSql[] =
    "(SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT tbl || '=' || "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) || '':'' || "
    "coalesce(md5(string_agg(md5(t::text) COLLATE \"C\", '''' ORDER BY md5(t::text) COLLATE "
    "\"C\")), '''') AS c FROM %I t', tbl), false, true, '')))[1]::text AS x FROM "
    "unnest(ARRAY['pgbench_accounts','pgbench_branches','pgbench_tellers','pgbench_history']) "
    "tbl) s)";

struct Mark {
  int id = 0;
  std::string time, lsn, xid, name, sums;
};

// Holds pgbench's writers off, then records time, LSN, xid, a restore point and the checksums
// in one transaction: nothing else can commit between them.
// Without concurrent writers (lock = false) one INSERT statement is as exact.
template <typename Db>
Mark RecordMark(Db& c, int id, bool lock = true) {
  std::string name = fmt::format("mark{}", id);
  std::string insert = fmt::format(
      "INSERT INTO marks SELECT {}, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD HH24:MI:SS.US') || '+00', pg_current_wal_lsn()::text, txid_current()::text, "
      "pg_create_restore_point('{}')::text, {}",
      id, name, kSumsSql);
  c.Exec(lock ? "BEGIN; LOCK TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, "
                "pgbench_history IN EXCLUSIVE MODE; " +
                    insert + "; COMMIT;"
              : insert);
  auto row = c.Query(fmt::format("SELECT ts, lsn, xid, sums FROM marks WHERE id = {}", id))[0];
  return Mark{id, row[0], row[1], row[2], name, row[3]};
}

// A restored cluster started by `pgvault restore --start`, queried over libpq, stopped by
// pg_ctl when the test is done with it.
class Restored {
 public:
  Restored(std::string pgdata, int port) : pgdata_(std::move(pgdata)), port_(port) {}
  ~Restored() { Stop(); }
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    auto session = pg::PgSession::Connect({.host = "127.0.0.1", .port = port_, .user = "postgres"});
    if (!session.ok()) throw HarnessError(session.status().ToString());
    auto rows = (*session)->Query(sql);
    if (!rows.ok()) throw HarnessError(rows.status().ToString());
    std::vector<std::vector<std::string>> out;
    for (const auto& r : *rows) {
      std::vector<std::string> row;
      for (const auto& v : r) row.push_back(v.value_or(""));
      out.push_back(row);
    }
    return out;
  }
  std::string Scalar(const std::string& sql) { return Query(sql)[0][0]; }
  void Exec(const std::string& sql) { Query(sql); }
  void Stop() {
    struct stat st;
    if (::stat((pgdata_ + "/postmaster.pid").c_str(), &st) == 0)
      RunAsPostgres({std::string(kPgBin) + "/pg_ctl", "stop", "-s", "-m", "fast", "-D", pgdata_});
  }

 private:
  std::string pgdata_;
  int port_;
};

size_t QueueLength(const std::string& spool) {
  size_t n = 0;
  if (!fs::exists(spool + "/queue")) return 0;
  for (const auto& e : fs::directory_iterator(spool + "/queue"))
    n += e.path().filename().string().size() == 24;
  return n;
}

void WaitQueueEmpty(const std::string& spool) {
  for (int poll_idx = 0; poll_idx < 2400 && QueueLength(spool) > 0; ++poll_idx)
    std::this_thread::sleep_for(50ms);
  if (QueueLength(spool) > 0)
    throw HarnessError("the archive queue in " + spool + " never drained");
}

pid_t WorkerPid(const std::string& spool) {
  std::ifstream in(spool + "/worker.lock");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class ArchiveAsyncTest : public ::testing::Test {
 protected:
  ProcessResult Vault(const std::string& repo, std::vector<std::string> args) {
    std::vector<std::string> all = {"--repo", repo, "--key-file", key_};
    all.insert(all.end(), args.begin(), args.end());
    return RunPgvault(all);
  }
  TempDir work_{"async"};
  std::string repo_ = work_.Sub("repo");
  std::string key_ = work_.Sub("repo.key");
  std::string spool_ = work_.Sub("spool");
};

TEST_F(ArchiveAsyncTest, NoFailureUnderLoadAndKillNineLosesNothing) {
  ASSERT_EQ(Vault(repo_, {"repo-create"}).exit_code, 0);
  std::string command = fmt::format(
      "{} --repo {} --key-file {} --archive-async --spool-path {} --jobs 2 "
      "archive-push %p",
      PGVAULT_BINARY, repo_, key_, spool_);
  auto src = PgCluster::Create({.archive_command = command});
  src->RunPgbench({"-i", "-s", "5", "-q"});
  auto b = Vault(repo_, {"backup", "--pgdata", src->pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
                         std::to_string(src->port())});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  std::string start_lsn = src->Scalar("SELECT pg_current_wal_lsn()");

  auto bench = src->StartPgbench({"-c", "4", "-T", "600", "-n"});
  auto t0 = std::chrono::steady_clock::now();
  int worst_ready = 0;
  size_t worst_queue = 0;
  auto sample = [&] {
    worst_ready = std::max(worst_ready,
                           std::stoi(src->Scalar("SELECT count(*) FROM pg_ls_archive_statusdir() "
                                                 "WHERE name LIKE '%.ready'")));
    worst_queue = std::max(worst_queue, QueueLength(spool_));
  };
  for (int sample_idx = 0; sample_idx < 40; ++sample_idx) {
    sample();
    std::this_thread::sleep_for(250ms);
  }

  // Freeze the worker, let segments queue up behind it, then kill -9 it. A worker that has just
  // released the lock on its way out does not count: look again until the frozen one holds it.
  pid_t worker = 0;
  for (int poll_idx = 0; poll_idx < 1200 && worker == 0; ++poll_idx) {
    // The worker exits when idle: switching WAL queues a segment and starts one.
    if (poll_idx % 10 == 0) src->Exec("SELECT pg_switch_wal()");
    pid_t pid = WorkerPid(spool_);
    if (pid != 0 && ::kill(pid, SIGSTOP) == 0) {
      int fd = ::open((spool_ + "/worker.lock").c_str(), O_RDWR);
      bool held = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0;
      if (fd >= 0) ::close(fd);
      if (held) {
        worker = pid;
        break;
      }
      ::kill(pid, SIGCONT);
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(worker, 0);
  for (int poll_idx = 0; poll_idx < 600 && QueueLength(spool_) < 3; ++poll_idx) {
    src->Exec("SELECT pg_switch_wal()");
    std::this_thread::sleep_for(100ms);
  }
  std::vector<std::string> stranded;
  for (const auto& e : fs::directory_iterator(spool_ + "/queue"))
    if (e.path().filename().string().size() == 24) stranded.push_back(e.path().filename());
  ASSERT_GE(stranded.size(), 3u);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  for (int sample_idx = 0; sample_idx < 20; ++sample_idx) {
    sample();
    std::this_thread::sleep_for(250ms);
  }
  std::string end_lsn = src->Scalar("SELECT pg_current_wal_lsn()");
  double load_secs = Seconds(t0);
  bench->Signal(SIGTERM);
  bench->Wait();
  std::string last = src->SwitchWalAndWaitArchived();
  WaitQueueEmpty(spool_);
  ReportFigure("async_worst_ready_segments_in_pg_wal", std::to_string(worst_ready));
  ReportFigure("async_worst_spool_queue_segments", std::to_string(worst_queue));
  ReportFigure(
      "pgbench_c4_wal_mb_per_s",
      fmt::format("{:.2f}", std::stod(src->Scalar(fmt::format("SELECT '{}'::pg_lsn - '{}'::pg_lsn",
                                                              end_lsn, start_lsn))) /
                                1e6 / load_secs));

  EXPECT_EQ(src->Scalar("SELECT failed_count FROM pg_stat_archiver"), "0");
  for (const auto& name : stranded)
    EXPECT_TRUE(fs::exists(repo_ + "/wal/00000001/" + name)) << name;
  EXPECT_FALSE(fs::exists(spool_ + "/error") && !fs::is_empty(spool_ + "/error"));
  auto info = nlohmann::json::parse(Vault(repo_, {"info", "--json"}).out);
  EXPECT_EQ(info["timelines"][0]["missing_segments"], 0);
  EXPECT_EQ(info["timelines"][0]["last"], last);
  uint64_t segments = info["timelines"][0]["segments"];
  std::string source_sums = src->Scalar(std::string("SELECT ") + kSumsSql);

  // Restore to the end of the archive, without and with prefetch: exactly the source's data.
  for (int prefetch : {0, 8}) {
    SCOPED_TRACE(prefetch);
    TempDir dir("restored");
    int port = FreePort();
    auto r = Vault(repo_, {"restore", "--pgdata", dir.Sub("pgdata"), "--pg-host", "127.0.0.1",
                           "--pg-port", std::to_string(port), "--archive-mode", "off", "--prefetch",
                           std::to_string(prefetch), "--jobs", "4", "--start"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    size_t at = r.out.find("recovery promoted after ");
    ASSERT_NE(at, std::string::npos) << r.out;
    ReportFigure(fmt::format("recovery_seconds_prefetch_{}", prefetch),
                 r.out.substr(at + 24, r.out.find(' ', at + 24) - at - 24));
    Restored db(dir.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar(std::string("SELECT ") + kSumsSql), source_sums);
  }
  ReportFigure("recovery_segments_in_archive", std::to_string(segments));

  // Push throughput: the same 24 archived segments into fresh repositories, sync and async.
  TempDir segs("segs");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(repo_ + "/wal/00000001"))
    if (e.path().filename().string().size() == 24) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  names.resize(std::min<size_t>(names.size(), 24));
  for (const auto& n : names) ASSERT_EQ(Vault(repo_, {"archive-get", n, segs.Sub(n)}).exit_code, 0);
  std::string sync_repo = work_.Sub("repo-sync"), async_repo = work_.Sub("repo-async");
  ASSERT_EQ(Vault(sync_repo, {"repo-create"}).exit_code, 0);
  ASSERT_EQ(Vault(async_repo, {"repo-create"}).exit_code, 0);
  auto t_sync = std::chrono::steady_clock::now();
  for (const auto& n : names)
    ASSERT_EQ(Vault(sync_repo, {"archive-push", segs.Sub(n)}).exit_code, 0);
  double sync_secs = Seconds(t_sync);
  std::string spool2 = work_.Sub("spool2");
  auto t_async = std::chrono::steady_clock::now();
  for (const auto& n : names)
    ASSERT_EQ(Vault(async_repo, {"--archive-async", "--spool-path", spool2, "--jobs", "2",
                                 "archive-push", segs.Sub(n)})
                  .exit_code,
              0);
  double enqueue_secs = Seconds(t_async);
  WaitQueueEmpty(spool2);
  double async_secs = Seconds(t_async);
  for (const auto& n : names) EXPECT_TRUE(fs::exists(async_repo + "/wal/00000001/" + n)) << n;
  ReportFigure("archive_push_sync_segments_per_s", fmt::format("{:.1f}", names.size() / sync_secs));
  ReportFigure("archive_push_async_enqueue_segments_per_s",
               fmt::format("{:.1f}", names.size() / enqueue_secs));
  ReportFigure("archive_push_async_stored_segments_per_s",
               fmt::format("{:.1f}", names.size() / async_secs));
}

}  // namespace
}  // namespace pgvault::test

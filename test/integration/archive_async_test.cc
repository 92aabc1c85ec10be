// Asynchronous archive-push under pgbench load: PostgreSQL never sees a failure, a kill -9 of the
// background pusher loses no segment, and the archive restores to exactly the source's data.
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
#include <regex>
#include <thread>

#include "marks.h"
#include "pg/session.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

size_t ReadyCount(PgCluster& pg) {
  return std::stoul(
      pg.Scalar("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
}

pid_t PusherPid(const std::string& spool) {
  std::ifstream in(spool + "/pusher.lock");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class ArchiveAsyncTest : public VaultTest {
 protected:
  ArchiveAsyncTest() : VaultTest("async") {}
  std::string spool_ = work_.Sub("spool");
};

TEST_F(ArchiveAsyncTest, NoFailureUnderLoadAndKillNineLosesNothing) {
  ASSERT_EQ(Vault({"repo-create"}).exit_code, 0);
  std::string command = fmt::format(
      "{} --repo {} --key-file {} --archive-async --spool-path {} --jobs 2 "
      "archive-push %p",
      PGVAULT_BINARY, repo_, key_, spool_);
  auto src = PgCluster::Create({.archive_command = command});
  src->RunPgbench({"-i", "-s", "5", "-q"});
  auto b = Backup(*src);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  std::string start_lsn = src->Scalar("SELECT pg_current_wal_lsn()");

  auto bench = src->StartPgbench({"-c", "4", "-T", "600", "-n"});
  auto t0 = std::chrono::steady_clock::now();
  size_t worst_ready = 0;
  auto sample = [&] { worst_ready = std::max(worst_ready, ReadyCount(*src)); };
  for (int sample_idx = 0; sample_idx < 40; ++sample_idx) {
    sample();
    std::this_thread::sleep_for(250ms);
  }

  // Freeze the pusher, let segments become ready behind it (archive-push waits), then kill -9
  // it. A pusher that has just released the lock on its way out does not count: look again
  // until the frozen one holds it.
  pid_t pusher = 0;
  for (int poll_idx = 0; poll_idx < 1200 && pusher == 0; ++poll_idx) {
    // The pusher exits when idle: switching WAL makes a segment ready and starts one.
    if (poll_idx % 10 == 0) src->Exec("SELECT pg_switch_wal()");
    pid_t pid = PusherPid(spool_);
    if (pid != 0 && ::kill(pid, SIGSTOP) == 0) {
      int fd = ::open((spool_ + "/pusher.lock").c_str(), O_RDWR);
      bool held = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0;
      if (fd >= 0) ::close(fd);
      if (held) {
        pusher = pid;
        break;
      }
      ::kill(pid, SIGCONT);
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(pusher, 0);
  for (int poll_idx = 0; poll_idx < 600 && ReadyCount(*src) < 3; ++poll_idx) {
    src->Exec("SELECT pg_switch_wal()");
    std::this_thread::sleep_for(100ms);
  }
  std::vector<std::string> stranded;
  for (const auto& e : fs::directory_iterator(src->pgdata() + "/pg_wal/archive_status"))
    if (e.path().extension() == ".ready") stranded.push_back(e.path().stem());
  ASSERT_GE(stranded.size(), 3u);
  ASSERT_EQ(::kill(pusher, SIGKILL), 0);
  for (int sample_idx = 0; sample_idx < 20; ++sample_idx) {
    sample();
    std::this_thread::sleep_for(250ms);
  }
  std::string end_lsn = src->Scalar("SELECT pg_current_wal_lsn()");
  double load_secs = Seconds(t0);
  bench->Signal(SIGTERM);
  bench->Wait();
  std::string last = src->SwitchWalAndWaitArchived();
  ReportFigure("async_worst_ready_segments_in_pg_wal", std::to_string(worst_ready));
  ReportFigure(
      "pgbench_c4_wal_mb_per_s",
      fmt::format("{:.2f}", std::stod(src->Scalar(fmt::format("SELECT '{}'::pg_lsn - '{}'::pg_lsn",
                                                              end_lsn, start_lsn))) /
                                1e6 / load_secs));

  EXPECT_EQ(src->Scalar("SELECT failed_count FROM pg_stat_archiver"), "0");
  for (const auto& name : stranded)
    EXPECT_TRUE(fs::exists(repo_ + "/wal/00000001/" + name)) << name;
  for (const auto& e : fs::directory_iterator(spool_ + "/out"))
    EXPECT_NE(e.path().extension(), ".error") << e.path();
  auto info = nlohmann::json::parse(Vault({"info", "--json"}).out);
  EXPECT_EQ(info["timelines"][0]["missing_segments"], 0);
  EXPECT_EQ(info["timelines"][0]["last"], last);
  uint64_t segments = info["timelines"][0]["segments"];
  std::string source_sums = src->Scalar(std::string("SELECT ") + kSumsSql);

  // Restore to the end of the archive, without and with prefetch: exactly the source's data.
  for (int prefetch : {0, 8}) {
    SCOPED_TRACE(prefetch);
    TempDir dir("restored");
    int port = FreePort();
    auto r = RestoreAndStart(
        dir.Sub("pgdata"), port,
        {"--archive-mode", "off", "--prefetch", std::to_string(prefetch), "--jobs", "4"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    size_t at = r.out.find("recovery promoted after ");
    ASSERT_NE(at, std::string::npos) << r.out;
    ReportFigure(fmt::format("recovery_seconds_prefetch_{}", prefetch),
                 r.out.substr(at + 24, r.out.find(' ', at + 24) - at - 24));
    Restored db(dir.Sub("pgdata"), port);
    EXPECT_EQ(db.Scalar(std::string("SELECT ") + kSumsSql), source_sums);
  }
  ReportFigure("recovery_segments_in_archive", std::to_string(segments));

  // Push throughput: the same 24 archived segments into fresh repositories, sync and async. For
  // async, a directory laid out like pg_wal with a .ready file per segment, and archive-push
  // called in order, each .ready renamed to .done on success, as PostgreSQL's archiver does.
  TempDir segs("segs");
  std::string wal_dir = segs.Sub("pg_wal"), status_dir = wal_dir + "/archive_status";
  RunAsPostgres({"mkdir", "-p", status_dir});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(repo_ + "/wal/00000001"))
    if (e.path().filename().string().size() == 24) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  names.resize(std::min<size_t>(names.size(), 24));
  for (const auto& n : names) {
    ASSERT_EQ(Vault({"archive-get", n, wal_dir + "/" + n}).exit_code, 0);
    std::ofstream(status_dir + "/" + n + ".ready").close();
  }
  std::string sync_repo = work_.Sub("repo-sync"), async_repo = work_.Sub("repo-async");
  ASSERT_EQ(VaultAt(sync_repo, {"repo-create"}).exit_code, 0);
  ASSERT_EQ(VaultAt(async_repo, {"repo-create"}).exit_code, 0);
  auto t_sync = std::chrono::steady_clock::now();
  for (const auto& n : names)
    ASSERT_EQ(VaultAt(sync_repo, {"archive-push", wal_dir + "/" + n}).exit_code, 0);
  double sync_secs = Seconds(t_sync);
  std::string spool2 = work_.Sub("spool2");
  auto t_async = std::chrono::steady_clock::now();
  for (const auto& n : names) {
    auto r = VaultAt(async_repo, {"--archive-async", "--spool-path", spool2, "--jobs", "2",
                                  "archive-push", wal_dir + "/" + n});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Acknowledged means stored: the repository has it before PostgreSQL would move on.
    ASSERT_TRUE(fs::exists(async_repo + "/wal/00000001/" + n)) << n;
    fs::rename(status_dir + "/" + n + ".ready", status_dir + "/" + n + ".done");
  }
  double async_secs = Seconds(t_async);
  auto got = VaultAt(async_repo, {"archive-get", names.back(), segs.Sub("check")});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(fs::file_size(segs.Sub("check")), fs::file_size(wal_dir + "/" + names.back()));
  // A different segment under an archived name: the pusher refuses it, that archive-push fails
  // with the reason, and the repository keeps the original.
  {
    std::string first = wal_dir + "/" + names.front();
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8192 + 100);
    f.put('\x5a');
    f.close();
    fs::rename(status_dir + "/" + names.front() + ".done",
               status_dir + "/" + names.front() + ".ready");
    auto r = VaultAt(async_repo, {"--archive-async", "--spool-path", spool2, "--jobs", "2",
                                  "archive-push", first});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(fmt::format("asynchronous archiving of '{}' failed: WAL file '{}' is "
                                     "already archived with different content",
                                     names.front(), names.front())),
              std::string::npos)
        << r.err;
    fs::remove(status_dir + "/" + names.front() + ".ready");
    // The pusher writes its log through pgvault's logger: a line per segment stored, and the
    // refusal as an error.
    std::ifstream log_file(spool2 + "/pusher.log");
    std::string log_text((std::istreambuf_iterator<char>(log_file)),
                         std::istreambuf_iterator<char>());
    EXPECT_TRUE(std::regex_search(
        log_text, std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d pgvault\[\d+\] INFO: archived ')" +
                             names.back() + "'\n")))
        << log_text;
    EXPECT_NE(log_text.find(fmt::format(" ERROR: pushing '{}': WAL file '{}' is already archived",
                                        names.front(), names.front())),
              std::string::npos)
        << log_text;
  }
  ReportFigure("archive_push_sync_segments_per_s", fmt::format("{:.1f}", names.size() / sync_secs));
  ReportFigure("archive_push_async_segments_per_s",
               fmt::format("{:.1f}", names.size() / async_secs));
}

}  // namespace
}  // namespace pgvault::test

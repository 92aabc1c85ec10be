// Watches /proc while a test runs pgvault (issue 14, SecretsTest): every pgvault process (any
// process whose executable is the binary under test, including the forked async pusher), every
// process whose parent chain leads to one while it is seen (pg_ctl, sh, pg_amcheck, ...) and every
// process whose command line names a watched path (the server a restore or drill started, and
// its children). For each it keeps every command line and environment seen, and for pgvault
// processes whether /proc/PID belonged to root at the last look: the kernel hands a process's
// /proc files to root exactly when the process is not dumpable (PR_SET_DUMPABLE 0).
//
// The watch runs on a thread of its own, looking every few milliseconds; processes that live
// shorter than that may be missed. Only the test thread calls the methods.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pgvault::test {

struct SeenProcess {
  pid_t pid = 0;
  pid_t ppid = 0;  // at the first look
  std::string exe;
  std::set<std::string> cmdlines;  // arguments joined by ' '
  std::set<std::string> environs;  // entries joined by '\n'
  bool pgvault = false;            // ran the binary under test at some look
  // For pgvault processes: from the first to the last look while it ran pgvault, and whether
  // its /proc files belonged to root (not dumpable) at that last look.
  std::chrono::steady_clock::time_point first_pgvault{}, last_pgvault{};
  bool last_not_dumpable = false;
  bool owned_by_root_user = false;  // the process itself runs as root: ownership tells nothing

  // Watched long enough that main() has run its prctl: 100 ms between the first and last look.
  bool JudgedDumpable() const {
    return pgvault && !owned_by_root_user &&
           last_pgvault - first_pgvault >= std::chrono::milliseconds(100);
  }
  bool EnvironHas(const std::string& text) const;
  bool CmdlineHas(const std::string& text) const;
};

class ProcWatch {
 public:
  explicit ProcWatch(std::string pgvault_binary);
  ~ProcWatch();
  ProcWatch(const ProcWatch&) = delete;
  ProcWatch& operator=(const ProcWatch&) = delete;

  // Processes whose command line contains path are watched from the next look on.
  void WatchPath(const std::string& path);
  // Stops the thread; returns every process seen, keyed by "pid:start time".
  std::map<std::string, SeenProcess> Stop();
  // The number of looks so far.
  size_t Looks() const { return looks_; }

 private:
  void Run();
  void Look();

  std::string binary_;
  std::mutex mu_;
  std::vector<std::string> paths_;
  std::map<std::string, SeenProcess> seen_;
  std::map<pid_t, std::string> tracked_now_;  // pid -> key of the tracked processes alive now
  std::atomic<bool> stop_{false};
  std::atomic<size_t> looks_{0};
  std::thread thread_;
};

}  // namespace pgvault::test

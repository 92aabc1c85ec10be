#include "drill/leftovers.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/file.h"
#include "restore/restore.h"

namespace pgvault::drill {
namespace {

namespace fs = std::filesystem;

// True while pid runs a pgvault (a reused pid of another program does not count).
bool DrillRunning(long pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  std::ifstream cmdline(fmt::format("/proc/{}/cmdline", pid));
  std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  return args.find("pgvault") != std::string::npos;
}

}  // namespace

Status WriteDrillPid(const std::string& scratch) {
  return WriteFileAtomic(scratch + "/drill.pid", AsBytes(std::to_string(::getpid()) + "\n"),
                         {.mode = 0644});
}

std::string DrillTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

std::vector<std::string> CleanLeftoverScratch(const std::string& tmp_dir) {
  std::vector<std::string> cleaned;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("pgvault-drill-") || !entry.is_directory(ec)) continue;
    std::ifstream pid_file(entry.path() / "drill.pid");
    long pid = 0;
    if (!(pid_file >> pid) || DrillRunning(pid)) continue;
    std::string dir = entry.path().string();
    Status stopped = restore::StopServer(dir + "/pgdata", 30);
    std::error_code rm;
    fs::remove_all(dir, rm);
    cleaned.push_back(fmt::format("'{}' of drill pid {} (no longer running): server {}, {}", dir,
                                  pid, stopped.ok() ? "stopped" : stopped.message(),
                                  rm ? "not removed: " + rm.message() : "removed"));
  }
  return cleaned;
}

}  // namespace pgvault::drill

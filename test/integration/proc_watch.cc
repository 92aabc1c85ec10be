#include "proc_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace pgvault::test {
namespace {

// The file's content, or what could be read before the process went away ("" if nothing).
std::string ReadProc(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string Joined(std::string text, char sep) {
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text)
    if (c == '\0') c = sep;
  return text;
}

struct Entry {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::string start;  // field 22 of /proc/PID/stat: with the pid, names one process
  std::string exe;
};

// pid, ppid and start time from /proc/PID/stat (the command name may hold spaces and ')').
bool ReadStat(pid_t pid, Entry& entry) {
  std::string stat = ReadProc("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> fields;  // from field 3 (state) on
  size_t at = close + 2;
  while (at < stat.size()) {
    size_t end = stat.find(' ', at);
    if (end == std::string::npos) end = stat.size();
    fields.push_back(stat.substr(at, end - at));
    at = end + 1;
  }
  if (fields.size() < 20) return false;
  entry.pid = pid;
  entry.ppid = static_cast<pid_t>(std::atol(fields[1].c_str()));
  entry.start = fields[19];
  return true;
}

std::string Exe(pid_t pid) {
  char buf[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// The effective uid in /proc/PID/status ("Uid:\treal\teffective\t...").
long EffectiveUid(pid_t pid) {
  std::string status = ReadProc("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("\nUid:");
  if (at == std::string::npos) return -1;
  char* end = nullptr;
  std::strtol(status.c_str() + at + 5, &end, 10);
  return std::strtol(end, nullptr, 10);
}

}  // namespace

bool SeenProcess::EnvironHas(const std::string& text) const {
  for (const auto& e : environs)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

bool SeenProcess::CmdlineHas(const std::string& text) const {
  for (const auto& c : cmdlines)
    if (c.find(text) != std::string::npos) return true;
  return false;
}

ProcWatch::ProcWatch(std::string pgvault_binary) {
  char* real = ::realpath(pgvault_binary.c_str(), nullptr);
  binary_ = real ? real : pgvault_binary;
  std::free(real);
  thread_ = std::thread([this] { Run(); });
}

ProcWatch::~ProcWatch() { Stop(); }

void ProcWatch::WatchPath(const std::string& path) {
  std::lock_guard lock(mu_);
  paths_.push_back(path);
}

std::map<std::string, SeenProcess> ProcWatch::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  return seen_;
}

void ProcWatch::Run() {
  while (!stop_) {
    Look();
    ++looks_;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
}

void ProcWatch::Look() {
  std::vector<Entry> entries;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
      if (pid <= 0 || pid == ::getpid()) continue;
      Entry entry;
      if (!ReadStat(pid, entry)) continue;
      entry.exe = Exe(pid);
      entries.push_back(std::move(entry));
    }
    ::closedir(d);
  }
  std::lock_guard lock(mu_);
  std::map<pid_t, std::string> tracked;  // this look's
  auto key_of = [](const Entry& e) { return std::to_string(e.pid) + ":" + e.start; };
  // Parents may come after their children in /proc order: repeat until nothing is added.
  for (bool added = true; added;) {
    added = false;
    for (const Entry& e : entries) {
      if (tracked.count(e.pid)) continue;
      std::string key = key_of(e);
      bool want = e.exe == binary_ || seen_.count(key) || tracked.count(e.ppid) ||
                  tracked_now_.count(e.ppid);
      if (!want && e.exe.starts_with("/usr/lib/postgresql/")) {
        std::string cmdline = Joined(ReadProc("/proc/" + std::to_string(e.pid) + "/cmdline"), ' ');
        for (const auto& path : paths_) want = want || cmdline.find(path) != std::string::npos;
      }
      if (!want) continue;
      tracked[e.pid] = key;
      added = true;
    }
  }
  auto now = std::chrono::steady_clock::now();
  for (const Entry& e : entries) {
    auto it = tracked.find(e.pid);
    if (it == tracked.end()) continue;
    std::string proc = "/proc/" + std::to_string(e.pid);
    SeenProcess& seen = seen_[it->second];
    if (seen.pid == 0) seen.pid = e.pid, seen.ppid = e.ppid;
    if (!e.exe.empty()) seen.exe = e.exe;  // "" while it exits
    std::string cmdline = Joined(ReadProc(proc + "/cmdline"), ' ');
    if (!cmdline.empty()) seen.cmdlines.insert(cmdline);
    std::string environ = Joined(ReadProc(proc + "/environ"), '\n');
    if (!environ.empty()) seen.environs.insert(environ);
    if (e.exe != binary_) continue;
    struct stat st {};
    if (::stat((proc + "/environ").c_str(), &st) != 0) continue;  // gone meanwhile
    long euid = EffectiveUid(e.pid);
    if (euid < 0) continue;
    if (!seen.pgvault) seen.first_pgvault = now;
    seen.pgvault = true;
    seen.last_pgvault = now;
    seen.last_not_dumpable = st.st_uid == 0;
    seen.owned_by_root_user = euid == 0;
  }
  tracked_now_ = std::move(tracked);
}

}  // namespace pgvault::test

#include "archive/background.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace pgvault::archive {
namespace {

// Closes every descriptor above stderr: a daemon must not hold PostgreSQL's pipes open.
void CloseInheritedFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return;
  std::vector<int> fds;
  while (dirent* e = ::readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd > 2 && fd != ::dirfd(d)) fds.push_back(fd);
  }
  ::closedir(d);
  for (int fd : fds) ::close(fd);
}

}  // namespace

void Daemonize(const std::string& log_path, const std::function<int()>& fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t child = ::fork();
  if (child < 0) {
    log::Warn("cannot fork a background process: {}", std::strerror(errno));
    return;
  }
  if (child > 0) {
    int status;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return;
  }
  ::setsid();
  if (::fork() != 0) ::_exit(0);
  CloseInheritedFds();
  int devnull = ::open("/dev/null", O_RDONLY);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  if (log_fd >= 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
  }
  ::_exit(fn());
}

int TryLock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void WritePid(int lock_fd) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd, 0) == 0 && ::pwrite(lock_fd, pid.data(), pid.size(), 0) < 0) {
  }
}

}  // namespace pgvault::archive

#include "archive/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/time.h"
#include "pg/wal_header.h"
#include "pg/wal_names.h"
#include "repo/wal_store.h"
#include "storage/posix/posix_storage.h"

namespace pgvault::archive {
namespace {

Result<Bytes> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return storage::ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(fmt::format("'{}' is not a regular file", path));
  }
  if (st.st_size > (1ll << 30)) {
    ::close(fd);
    return Status::InvalidArgument(fmt::format("'{}' is larger than any WAL segment", path));
  }
  Bytes data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return storage::ErrnoStatus("cannot read", path, err);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return data;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status CheckWalName(const std::string& name) {
  if (pg::ClassifyWalFileName(name) == pg::WalFileKind::kInvalid)
    return std::move(Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name)))
        .WithHint("archive_command must pass %p, e.g. archive_command = 'pgvault archive-push %p'");
  return Status::Ok();
}

// A segment must carry a valid page header for the timeline its name gives; with repo, it must
// also come from the cluster the repository serves.
Status CheckWalContent(const std::string& path, const std::string& name, ByteView data,
                       repo::Repository* repo) {
  pg::WalFileKind kind = pg::ClassifyWalFileName(name);
  if (kind != pg::WalFileKind::kSegment && kind != pg::WalFileKind::kPartial) return Status::Ok();
  auto header = pg::ParseWalSegmentHeader(data);
  if (!header.ok())
    return Status::InvalidArgument(
        fmt::format("'{}' is not a PostgreSQL WAL segment: {}", path, header.status().message()));
  // The first segment of a new timeline starts as a copy of its parent's segment, so its first
  // page may carry an older timeline; a newer one than the name says is never right.
  if (header->timeline > pg::TimelineOfWalFile(name))
    return Status::InvalidArgument(fmt::format("'{}' holds timeline {} but its name says {}", path,
                                               header->timeline, pg::TimelineOfWalFile(name)));
  if (repo)
    PGV_RETURN_IF_ERROR(repo->CheckCluster(header->system_identifier, header->pg_version_major));
  return Status::Ok();
}

// "<name>.error" files the worker left in the error directory.
std::vector<std::string> ListQueueErrors(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.ends_with(".error")) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Writes data to path through a temp file and rename; with sync, fsyncs file and directory so
// the content survives a crash once this returns.
Status WriteFileAtomic(const std::string& path, ByteView data, bool sync) {
  std::string tmp = path + ".pgvault-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return storage::ErrnoStatus("cannot create", tmp, errno);
  size_t done = 0;
  Status s;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = storage::ErrnoStatus("cannot write", tmp, errno);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (s.ok() && sync && ::fsync(fd) != 0) s = storage::ErrnoStatus("cannot fsync", tmp, errno);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = storage::ErrnoStatus("cannot rename to", path, errno);
  if (!s.ok()) ::unlink(tmp.c_str());
  if (s.ok() && sync) s = storage::SyncDir(DirName(path));
  return s;
}

// A segment PostgreSQL asks for that is missing while later segments of its timeline are
// archived is a hole: replaying past it is impossible, and ending recovery there would silently
// lose everything after it.
Status CheckNotAGap(repo::Repository& repo, const std::string& name) {
  std::string prefix = fmt::format("wal/{}/", name.substr(0, 8));
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(prefix));
  for (const auto& obj : objects) {
    std::string later = BaseName(obj.key);
    if (pg::ClassifyWalFileName(later) == pg::WalFileKind::kSegment && later > name)
      return std::move(
                 Status::Corruption(fmt::format(
                     "WAL segment '{}' is missing from the repository but later WAL of timeline {} "
                     "('{}') is there: recovery cannot continue past the gap",
                     name, pg::TimelineOfWalFile(name), later)))
          .WithHint(
              "restore the missing segment into the repository, or choose a recovery "
              "target before it");
  }
  return Status::Ok();
}

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

// Runs fn in a detached grandchild (setsid, stdio to log_path) and returns at once in the
// caller. fn's return value is the daemon's exit code.
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

// An exclusive, non-blocking flock on path; -1 when another process holds it.
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

struct QueuedFile {
  std::string name;
  uint64_t size = 0;
};

// Complete files in a queue directory (temp files excluded), sorted by name.
std::vector<QueuedFile> ListQueue(const std::string& dir) {
  std::vector<QueuedFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (pg::ClassifyWalFileName(n) == pg::WalFileKind::kInvalid) continue;
    struct stat st;
    if (::stat((dir + "/" + n).c_str(), &st) == 0)
      out.push_back({n, static_cast<uint64_t>(st.st_size)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

std::string Now() { return FormatIsoMicros(NowUnixMicros()); }

// Starts a worker unless one holds the lock. The worker takes the lock itself, so two pushes
// racing here start at most one that runs.
void StartWorker(const AsyncOptions& options, const RepoOpener& open) {
  int fd = TryLock(options.spool_path + "/worker.lock");
  if (fd < 0) return;
  ::close(fd);
  Daemonize(options.spool_path + "/worker.log", [options, open] {
    Status s = RunArchiveWorker(options, open);
    if (!s.ok()) std::fprintf(stderr, "%s error: %s\n", Now().c_str(), s.ToString().c_str());
    return s.ok() ? 0 : 1;
  });
}

// Keeps the next options.prefetch segments after the one named in <dir>/want in <dir>, fetched
// in parallel. Stops at the first segment the repository lacks, and exits once there is
// nothing left to fetch for a moment. One prefetcher per directory (flock on <dir>/lock).
Status RunPrefetcher(const std::string& dir, const GetOptions& options, const RepoOpener& open) {
  int lock_fd = TryLock(dir + "/lock");
  if (lock_fd < 0) return Status::Ok();
  WritePid(lock_fd);
  PGV_ASSIGN_OR_RETURN(auto repo, open());
  double idle_since = MonotonicSeconds();
  std::string end_of_archive;  // first name found missing; not asked again
  while (MonotonicSeconds() - idle_since < 2.0) {
    auto want = ReadWholeFile(dir + "/want");
    if (!want.ok()) return Status::Ok();  // the restore is over and the directory gone
    // "<segment name> <segment size>"
    std::string current(AsString(*want));
    uint64_t segment_size =
        std::strtoull(current.c_str() + std::min<size_t>(25, current.size()), nullptr, 10);
    uint32_t tli = 0;
    uint64_t segno = 0;
    if (segment_size == 0 || !pg::ParseSegmentName(current, tli, segno, segment_size))
      return Status::Ok();
    std::vector<std::string> todo;
    for (int ahead = 1; ahead <= options.prefetch; ++ahead) {
      std::string next = pg::SegmentName(tli, (segno + ahead) * segment_size, segment_size);
      if (!end_of_archive.empty() && next >= end_of_archive) break;
      struct stat st;
      if (::stat((dir + "/" + next).c_str(), &st) != 0) todo.push_back(next);
    }
    if (todo.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    idle_since = MonotonicSeconds();
    std::atomic<size_t> next_idx{0};
    std::mutex mu;
    auto worker = [&] {
      for (size_t idx = next_idx++; idx < todo.size(); idx = next_idx++) {
        auto data = repo::GetWal(*repo, todo[idx]);
        if (!data.ok()) {
          std::lock_guard lock(mu);
          if (data.status().IsNotFound() && (end_of_archive.empty() || todo[idx] < end_of_archive))
            end_of_archive = todo[idx];
          continue;
        }
        Status written = WriteFileAtomic(dir + "/" + todo[idx], *data, false);
        if (!written.ok()) std::fprintf(stderr, "%s\n", written.ToString().c_str());
      }
    };
    std::vector<std::thread> threads;
    int nthreads = std::max(1, std::min<int>(options.jobs, static_cast<int>(todo.size())));
    for (int thread_idx = 0; thread_idx < nthreads; ++thread_idx) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path) {
  std::string name = BaseName(path);
  PGV_RETURN_IF_ERROR(CheckWalName(name));
  PGV_ASSIGN_OR_RETURN(Bytes data, ReadWholeFile(path));
  PGV_RETURN_IF_ERROR(CheckWalContent(path, name, data, &repo));
  PGV_ASSIGN_OR_RETURN(repo::PushOutcome outcome, repo::PushWal(repo, name, data));
  return fmt::format("{} '{}'",
                     outcome == repo::PushOutcome::kStored ? "archived" : "already archived", name);
}

Status ArchiveGet(repo::Repository& repo, const std::string& name, const std::string& dest) {
  auto data = repo::GetWal(repo, name);
  if (!data.ok()) {
    if (data.status().IsNotFound() && pg::ClassifyWalFileName(name) == pg::WalFileKind::kSegment)
      PGV_RETURN_IF_ERROR(CheckNotAGap(repo, name));
    return data.status();
  }
  return WriteFileAtomic(dest, *data, false);
}

Result<std::string> ArchivePushAsync(const std::string& path, const AsyncOptions& options,
                                     const RepoOpener& open) {
  if (options.spool_path.empty())
    return std::move(Status::Config("--archive-async needs a spool directory"))
        .WithHint("add --spool-path DIR: a local directory PostgreSQL's user can write");
  std::string name = BaseName(path);
  PGV_RETURN_IF_ERROR(CheckWalName(name));
  const std::string& spool = options.spool_path;
  std::string queue = spool + "/queue", errors = spool + "/error";
  PGV_RETURN_IF_ERROR(storage::MakeDirs(queue, 0700));
  PGV_RETURN_IF_ERROR(storage::MakeDirs(errors, 0700));

  // A failure the worker could not get past makes every push fail until it is resolved.
  for (const auto& f : ListQueueErrors(errors)) {
    auto text = ReadWholeFile(errors + "/" + f);
    std::string msg = text.ok() ? std::string(AsString(*text)) : "";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return std::move(Status::Unavailable(fmt::format("asynchronous archiving of '{}' failed: {}",
                                                     f.substr(0, f.size() - 6), msg)))
        .WithHint(fmt::format("fix the cause; the worker retries and removes '{}/{}' once the "
                              "segment is stored (log: '{}/worker.log')",
                              errors, f, spool));
  }

  PGV_ASSIGN_OR_RETURN(Bytes data, ReadWholeFile(path));
  PGV_RETURN_IF_ERROR(CheckWalContent(path, name, data, nullptr));
  std::string queued = queue + "/" + name;
  if (auto existing = ReadWholeFile(queued); existing.ok()) {
    if (*existing == data) {
      StartWorker(options, open);
      return fmt::format("'{}' is already queued", name);
    }
    return std::move(Status::Conflict(fmt::format(
                         "'{}' is already queued in '{}' with different content", name, queue)))
        .WithHint("two clusters may share one spool directory; give each its own --spool-path");
  }
  uint64_t queued_bytes = 0;
  for (const auto& f : ListQueue(queue)) queued_bytes += f.size;
  if (queued_bytes + data.size() > options.queue_max_bytes) {
    log::Warn(
        "archive queue '{}' is full ({} MiB queued, limit {} MiB): storing '{}' "
        "synchronously; the repository is not keeping up with PostgreSQL",
        queue, queued_bytes >> 20, options.queue_max_bytes >> 20, name);
    StartWorker(options, open);
    PGV_ASSIGN_OR_RETURN(auto repo, open());
    return ArchivePush(*repo, path);
  }
  PGV_RETURN_IF_ERROR(WriteFileAtomic(queued, data, true));
  StartWorker(options, open);
  return fmt::format("queued '{}'", name);
}

Status RunArchiveWorker(const AsyncOptions& options, const RepoOpener& open) {
  const std::string& spool = options.spool_path;
  std::string queue = spool + "/queue", errors = spool + "/error", lock = spool + "/worker.lock";
  int lock_fd = TryLock(lock);
  if (lock_fd < 0) return Status::Ok();  // another worker runs
  WritePid(lock_fd);
  std::unique_ptr<repo::Repository> repo;
  double idle_since = MonotonicSeconds();
  double backoff = 0;
  for (;;) {
    auto files = ListQueue(queue);
    if (files.empty()) {
      if (MonotonicSeconds() - idle_since < 2.0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      // Release the lock, then look again: a file queued after the last look either sees the
      // lock free (and starts a worker) or is found here.
      if (::ftruncate(lock_fd, 0) != 0) {
      }  // no pid: nobody mistakes an exiting worker for the running one
      ::close(lock_fd);
      if (ListQueue(queue).empty()) return Status::Ok();
      lock_fd = TryLock(lock);
      if (lock_fd < 0) return Status::Ok();
      WritePid(lock_fd);
      continue;
    }
    idle_since = MonotonicSeconds();
    if (!repo) {
      auto opened = open();
      if (!opened.ok()) {
        std::fprintf(stderr, "%s error: cannot open the repository: %s\n", Now().c_str(),
                     opened.status().ToString().c_str());
        backoff = std::min(10.0, std::max(0.5, backoff * 2));
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
        continue;
      }
      repo = std::move(opened).value();
    }
    // Push the whole queue in parallel; each file is deleted only once it is stored.
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex out_mu;
    auto worker = [&] {
      for (size_t idx = next++; idx < files.size(); idx = next++) {
        const std::string& name = files[idx].name;
        auto r = ArchivePush(*repo, queue + "/" + name);
        std::lock_guard lock_out(out_mu);
        if (r.ok()) {
          ::unlink((queue + "/" + name).c_str());
          ::unlink((errors + "/" + name + ".error").c_str());
          std::fprintf(stderr, "%s %s\n", Now().c_str(), r->c_str());
        } else {
          failed = true;
          std::string msg = r.status().ToString();
          std::fprintf(stderr, "%s error: pushing '%s': %s\n", Now().c_str(), name.c_str(),
                       msg.c_str());
          // Retryable failures (network) only delay the queue; others block archive-push.
          if (!r.status().retryable()) {
            Status recorded = WriteFileAtomic(errors + "/" + name + ".error",
                                              AsBytes(r.status().message()), false);
            if (!recorded.ok()) std::fprintf(stderr, "%s\n", recorded.ToString().c_str());
          }
        }
      }
    };
    std::vector<std::thread> threads;
    int nthreads = std::max(1, std::min<int>(options.jobs, static_cast<int>(files.size())));
    for (int thread_idx = 0; thread_idx < nthreads; ++thread_idx) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    std::fflush(stderr);
    if (failed) {
      backoff = std::min(10.0, std::max(0.5, backoff * 2));
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    } else {
      backoff = 0;
    }
  }
}

Status ArchiveGetPrefetch(const std::string& name, const std::string& dest,
                          const GetOptions& options, const RepoOpener& open) {
  if (options.prefetch <= 0 || pg::ClassifyWalFileName(name) != pg::WalFileKind::kSegment) {
    PGV_ASSIGN_OR_RETURN(auto repo, open());
    return ArchiveGet(*repo, name, dest);
  }
  std::string dir = DirName(dest) + "/pgvault-prefetch";
  PGV_RETURN_IF_ERROR(storage::MakeDirs(dir, 0700));
  // PostgreSQL asks in order: what lies before this segment will not be asked for again.
  for (const auto& f : ListQueue(dir))
    if (f.name.substr(8) < name.substr(8)) ::unlink((dir + "/" + f.name).c_str());
  std::string ready = dir + "/" + name;
  Status status;
  if (::rename(ready.c_str(), dest.c_str()) == 0) {
    log::Info("served '{}' from the prefetch queue", name);
  } else {
    auto repo = open();
    if (!repo.ok()) return repo.status();
    status = ArchiveGet(**repo, name, dest);
  }
  if (status.ok()) {
    // The segment size sits at byte 32 of the long page header (XLogLongPageHeaderData).
    uint32_t segment_size = 0;
    int fd = ::open(dest.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (::pread(fd, &segment_size, sizeof segment_size, 32) != sizeof segment_size)
        segment_size = 0;
      ::close(fd);
    }
    if (segment_size == 0) return status;
    PGV_RETURN_IF_ERROR(
        WriteFileAtomic(dir + "/want", AsBytes(fmt::format("{} {}", name, segment_size)), false));
    Daemonize(dir + "/prefetch.log", [dir, options, open] {
      Status s = RunPrefetcher(dir, options, open);
      return s.ok() ? 0 : 1;
    });
  }
  return status;
}

bool RunningForStandby() {
  struct stat st;
  return ::stat("standby.signal", &st) == 0;
}

}  // namespace pgvault::archive

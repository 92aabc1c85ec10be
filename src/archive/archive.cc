#include "archive/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "archive/background.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "common/large_buffer.h"
#include "common/log.h"
#include "common/time.h"
#include "common/work_queue.h"
#include "pg/wal_header.h"
#include "pg/wal_names.h"
#include "repo/layout.h"
#include "repo/wal_store.h"

namespace pgvault::archive {
namespace {

// Opens a file archive-push or archive-get reads whole and returns its size.
Result<UniqueFd> OpenWhole(const std::string& path, size_t& size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return Status::InvalidArgument(fmt::format("'{}' is not a regular file", path));
  if (st.st_size > (1ll << 30))
    return Status::InvalidArgument(fmt::format("'{}' is larger than any WAL segment", path));
  size = static_cast<size_t>(st.st_size);
  return fd;
}

// Reads a whole segment into buf, reusing its memory: a pusher thread reads one 16 MiB segment
// after another (common/large_buffer.h says why not a vector).
Result<ByteView> ReadSegmentInto(const std::string& path, LargeBuffer& buf) {
  size_t size = 0;
  PGV_ASSIGN_OR_RETURN(UniqueFd fd, OpenWhole(path, size));
  PGV_RETURN_IF_ERROR(buf.Resize(size));
  PGV_ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf.span(), path));
  if (n < size) return ErrnoStatus("cannot read", path, EIO);  // truncated meanwhile
  return ByteView(buf.span());
}

// The first (at most) n bytes of a file.
Result<Bytes> ReadFileHead(const std::string& path, size_t n) {
  size_t size = 0;
  PGV_ASSIGN_OR_RETURN(UniqueFd fd, OpenWhole(path, size));
  Bytes data(std::min(size, n));
  PGV_ASSIGN_OR_RETURN(size_t got, ReadFull(fd.get(), data, path));
  data.resize(got);
  return data;
}

Result<Bytes> ReadWholeFile(const std::string& path) {
  size_t size = 0;
  PGV_ASSIGN_OR_RETURN(UniqueFd fd, OpenWhole(path, size));
  Bytes data(size);
  PGV_ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), data, path));
  if (n < size) return ErrnoStatus("cannot read", path, EIO);  // truncated meanwhile
  return data;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
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
  PGV_RETURN_IF_ERROR(pg::CheckSegmentIdentity(fmt::format("'{}'", path), name, *header));
  if (repo)
    PGV_RETURN_IF_ERROR(repo->CheckCluster(header->system_identifier, header->pg_version_major,
                                           header->segment_size));
  return Status::Ok();
}

// Writes data to path through a temp file and rename, without fsync (as archive-get always did:
// after a crash PostgreSQL asks for the segment again, and the spool's files are redone).
Status WriteFileAtomic(const std::string& path, ByteView data) {
  return pgvault::WriteFileAtomic(
      path, data, {.mode = 0600, .sync = false, .temp_path = path + ".pgvault-tmp"});
}

// archive-get exits 1 ("not archived": PostgreSQL may end recovery there) only for kNotFound,
// so a failure that merely says "no such file" about something else (the destination's
// directory, the prefetch queue) must not read as kNotFound.
Status NotAboutTheWalFile(Status s) {
  if (!s.IsNotFound()) return s;
  return std::move(Status::Io(s.message()))
      .WithHint(!s.hint().empty() ? s.hint()
                                  : "a path is missing, not the WAL file; exiting 1 would tell "
                                    "PostgreSQL that the archive ends here");
}

// A segment PostgreSQL asks for that is missing while later segments of its timeline are
// archived is a hole: replaying past it is impossible, and ending recovery there would silently
// lose everything after it.
Status CheckNotAGap(repo::Repository& repo, const std::string& name) {
  auto prefix = repo::WalTimelinePrefix(name);
  if (!prefix) return Status::Ok();  // not a WAL file name: nothing to compare with
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(*prefix));
  for (const auto& obj : objects) {
    auto later_name = repo::WalNameFromKey(obj.key);
    if (!later_name) continue;
    const std::string& later = *later_name;
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
    if (::stat(fmt::format("{}/{}", dir, n).c_str(), &st) == 0)
      out.push_back({n, static_cast<uint64_t>(st.st_size)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

// Names with a .ready file in PostgreSQL's archive_status directory, oldest first.
std::vector<std::string> ListReady(const std::string& status_dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(status_dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (!n.ends_with(".ready")) continue;
    std::string name(n.substr(0, n.size() - 6));
    if (pg::ClassifyWalFileName(name) != pg::WalFileKind::kInvalid) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Starts a pusher unless one holds the lock. The pusher takes the lock itself, so two pushes
// racing here start at most one that runs.
void StartPusher(const AsyncOptions& options, const std::string& wal_dir, const RepoOpener& open) {
  int fd = TryLock(options.spool_path + "/pusher.lock");
  if (fd < 0) return;
  ::close(fd);
  Daemonize(options.spool_path + "/pusher.log", [options, wal_dir, open] {
    // pusher.log records every segment stored (info lines) unless --log-level asked for less
    // than the default.
    if (log::GetLevel() == log::Level::kWarn) log::SetLevel(log::Level::kInfo);
    Status s = RunArchivePusher(options, wal_dir, open);
    if (!s.ok()) log::Error("{}", s.ToString());
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
      if (::stat(fmt::format("{}/{}", dir, next).c_str(), &st) != 0) todo.push_back(next);
    }
    if (todo.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    idle_since = MonotonicSeconds();
    std::mutex mu;
    // A segment that cannot be fetched is only not prefetched: archive-get fetches it itself.
    (void)ParallelFor(todo.size(), options.jobs, [&](size_t idx) {
      auto data = repo::GetWal(*repo, todo[idx]);
      if (!data.ok()) {
        std::lock_guard lock(mu);
        if (data.status().IsNotFound() && (end_of_archive.empty() || todo[idx] < end_of_archive))
          end_of_archive = todo[idx];
        return Status::Ok();
      }
      Status written = WriteFileAtomic(dir + "/" + todo[idx], *data);
      if (!written.ok()) log::Warn("{}", written.ToString());
      return Status::Ok();
    });
  }
  return Status::Ok();
}

// Opens the repository, trying again with growing pauses for up to timeout_seconds: the pusher
// runs in the background, and the segments wait for it. After that the pusher gives up (the
// archive-push waiting for it times out too); the next archive-push starts a new one.
Result<std::unique_ptr<repo::Repository>> OpenWithRetry(const RepoOpener& open,
                                                        double timeout_seconds) {
  double backoff = 0;
  double deadline = MonotonicSeconds() + timeout_seconds;
  for (;;) {
    auto opened = open();
    if (opened.ok() || MonotonicSeconds() + backoff > deadline) return opened;
    log::Error("cannot open the repository: {}", opened.status().ToString());
    backoff = std::min(10.0, std::max(0.5, backoff * 2));
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
  }
}

// The asynchronous pusher's work: the scanning thread (Scan) queues ready segments;
// long-lived workers (Work) push them, so each keeps its buffers and compression context from
// one segment to the next, and leave a .ok or .error result in the spool for archive-push.
class Pusher {
 public:
  Pusher(const AsyncOptions& options, const std::string& wal_dir, repo::Repository& repo)
      : wal_dir_(wal_dir),
        out_(options.spool_path + "/out"),
        status_dir_(wal_dir + "/archive_status"),
        repo_(repo) {}

  // archive-push has a result for it to consume (or has not consumed it yet).
  bool HasResult(const std::string& name) const {
    return Exists(out_ + "/" + name + ".ok") || Exists(out_ + "/" + name + ".error");
  }
  const std::string& status_dir() const { return status_dir_; }

  // Pushes queued segments until the queue is closed and drained.
  void Work() {
    while (std::optional<std::string> popped = queue_.Pop()) {
      // Start reading the next segments from disk while this one is compressed.
      for (const auto& ahead : queue_.Peek(2)) {
        int fd = ::open((wal_dir_ + "/" + ahead).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
        ::close(fd);
      }
      Record(*popped, ArchivePush(repo_, wal_dir_ + "/" + *popped));
    }
  }

  // Queues the ready segments that are neither in flight, stored moments ago, waiting for a
  // retry nor have a result; true while segments are in flight or waiting for a retry.
  bool Scan(const std::vector<std::string>& ready) {
    std::vector<std::string> candidates;
    bool busy = false;
    {
      // Names in flight or stored moments ago need no look at the spool: the pusher runs far
      // ahead of the archiver, and a stat per waiting name every scan added up.
      std::lock_guard lk(mu_);
      double now = MonotonicSeconds();
      for (const auto& name : ready) {
        if (pending_.count(name)) continue;
        if (auto it = stored_at_.find(name); it != stored_at_.end()) {
          if (it->second > now - 5.0) continue;
          stored_at_.erase(it);
        }
        if (auto it = retry_after_.find(name); it != retry_after_.end()) {
          if (it->second > now) {
            busy = true;
            continue;
          }
          retry_after_.erase(it);
        }
        candidates.push_back(name);
      }
    }
    std::erase_if(candidates, [&](const std::string& name) { return HasResult(name); });
    {
      std::lock_guard lk(mu_);
      std::erase_if(candidates,
                    [&](const std::string& name) { return !pending_.insert(name).second; });
      busy = busy || !pending_.empty();
    }
    for (auto& name : candidates) queue_.Push(std::move(name));
    return busy;
  }

  // When idle: forgets stored segments no longer ready, and deletes results PostgreSQL will not
  // ask for: it archived the segment another way (this pusher read its .ready file just before
  // PostgreSQL renamed it to .done).
  void Tidy(const std::vector<std::string>& ready) {
    {
      std::lock_guard lk(mu_);
      std::erase_if(stored_at_, [&](const auto& kv) {
        return !std::binary_search(ready.begin(), ready.end(), kv.first);
      });
    }
    DIR* d = ::opendir(out_.c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n.ends_with(".ok") &&
          !std::binary_search(ready.begin(), ready.end(), n.substr(0, n.size() - 3)))
        ::unlink((out_ + "/" + std::string(n)).c_str());
    }
    ::closedir(d);
  }

  void Close() { queue_.Close(); }  // the workers push what is queued, then return

 private:
  void Record(const std::string& name, const Result<std::string>& r) {
    std::lock_guard lk(mu_);
    pending_.erase(name);
    if (r.ok()) {
      stored_at_[name] = MonotonicSeconds();
      int fd = ::open((out_ + "/" + name + ".ok").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
      CrashPoint("archive-push: acknowledged " + name);
      log::Info("{}", *r);
    } else if (Exists(status_dir_ + "/" + name + ".ready")) {
      log::Error("pushing '{}': {}", name, r.status().ToString());
      // Retryable failures (network) only delay; others fail this segment's archive-push.
      if (r.status().retryable()) {
        retry_after_[name] = MonotonicSeconds() + 1.0;
      } else {
        Status recorded =
            WriteFileAtomic(out_ + "/" + name + ".error", AsBytes(r.status().message()));
        if (!recorded.ok()) log::Error("{}", recorded.ToString());
      }
    }  // else PostgreSQL archived or removed it meanwhile: nothing to report
  }

  const std::string wal_dir_, out_, status_dir_;
  repo::Repository& repo_;
  // The scan waits when the workers are this far behind.
  BoundedQueue<std::string> queue_{1024};
  std::mutex mu_;                              // guards the three maps
  std::set<std::string> pending_;              // queued or being pushed
  std::map<std::string, double> retry_after_;  // retryable failures wait before the next try
  // Stored recently: archive-push consumed the .ok and PostgreSQL is about to rename .ready to
  // .done. Pushing such a segment again would only find it archived; after a while it may be
  // PostgreSQL asking again (its archive-push died before reporting), so it is pushed again.
  std::map<std::string, double> stored_at_;
};

void LogUsage() {
  rusage usage;
  if (::getrusage(RUSAGE_SELF, &usage) == 0)
    log::Info("pusher done: {:.2f} s user, {:.2f} s system CPU, peak RSS {} MiB",
              usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6,
              usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6, usage.ru_maxrss / 1024);
}

}  // namespace

Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path) {
  std::string name = BaseName(path);
  PGV_RETURN_IF_ERROR(CheckWalName(name));
  thread_local LargeBuffer buffer;
  PGV_ASSIGN_OR_RETURN(ByteView data, ReadSegmentInto(path, buffer));
  PGV_RETURN_IF_ERROR(CheckWalContent(path, name, data, &repo));
  PGV_ASSIGN_OR_RETURN(repo::PushOutcome outcome, repo::PushWal(repo, name, data));
  return fmt::format("{} '{}'",
                     outcome == repo::PushOutcome::kStored ? "archived" : "already archived", name);
}

Status ArchiveGet(repo::Repository& repo, const std::string& name, const std::string& dest) {
  // Written while it is decoded, through a temp file and rename as WriteFileAtomic does.
  bool not_in_repository = false;
  Status got = pgvault::WriteFileAtomic(
      dest,
      [&](int fd, const std::string& tmp) {
        Status s = repo::GetWalTo(
            repo, name, [&](ByteView piece) { return WriteFull(fd, piece, tmp); },
            [&] {
              if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
                return ErrnoStatus("cannot truncate", tmp, errno);
              return Status::Ok();
            });
        not_in_repository = s.IsNotFound();
        return s;
      },
      {.mode = 0600, .sync = false, .temp_path = dest + ".pgvault-tmp"});
  if (!got.ok()) {
    // Only the repository's "no such file" may tell PostgreSQL that the archive ends here.
    if (!not_in_repository) return NotAboutTheWalFile(got);
    if (pg::ClassifyWalFileName(name) != pg::WalFileKind::kSegment) return got;
    PGV_RETURN_IF_ERROR(CheckNotAGap(repo, name));
    // The end of the archive: what wal-stream has received of this segment so far, padded
    // with zeros to its size as pg_receivewal's .partial files are. Recovery replays it to its
    // last complete record and then asks for the next segment.
    PGV_ASSIGN_OR_RETURN(std::optional<Bytes> part, repo::NewestStreamPartial(repo, name));
    if (!part) return got;
    uint64_t streamed = part->size();
    PGV_ASSIGN_OR_RETURN(uint64_t segment_size, repo.RecordedWalSegmentSize());
    PGV_ASSIGN_OR_RETURN(Bytes padded, repo::PadStreamPart(name, std::move(*part), segment_size));
    log::Info("served the first {} bytes of '{}' as wal-stream received them", streamed, name);
    return NotAboutTheWalFile(WriteFileAtomic(dest, padded));
  }
  return Status::Ok();
}

Result<std::string> ArchivePushAsync(const std::string& path, const AsyncOptions& options,
                                     const RepoOpener& open) {
  if (options.spool_path.empty())
    return std::move(Status::Config("--archive-async needs a spool directory"))
        .WithHint("add --spool-path DIR: a local directory PostgreSQL's user can write");
  std::string name = BaseName(path);
  PGV_RETURN_IF_ERROR(CheckWalName(name));
  char* real = ::realpath(DirName(path).c_str(), nullptr);
  if (!real) return ErrnoStatus("cannot open", path, errno);
  std::string wal_dir = real;
  std::free(real);
  // Not called by PostgreSQL's archiver (no .ready file): nothing to read ahead, push it here.
  if (!Exists(wal_dir + "/archive_status/" + name + ".ready")) {
    PGV_ASSIGN_OR_RETURN(auto repo, open());
    return ArchivePush(*repo, path);
  }
  std::string out = options.spool_path + "/out";
  PGV_RETURN_IF_ERROR(MakeDirs(out, 0700));
  std::string ok = out + "/" + name + ".ok", error = out + "/" + name + ".error";
  double deadline = MonotonicSeconds() + options.timeout_seconds;
  int sleep_us = 500;
  for (;;) {
    if (::unlink(ok.c_str()) == 0) return fmt::format("archived '{}' (in the background)", name);
    if (auto text = ReadWholeFile(error); text.ok()) {
      // Consumed: PostgreSQL's retry of this segment makes the pusher try it again.
      ::unlink(error.c_str());
      std::string msg(AsString(*text));
      return std::move(Status::Unavailable(
                           fmt::format("asynchronous archiving of '{}' failed: {}", name, msg)))
          .WithHint(fmt::format("fix the cause; PostgreSQL retries the segment (log: '{}')",
                                options.spool_path + "/pusher.log"));
    }
    if (MonotonicSeconds() > deadline)
      return std::move(Status::Unavailable(
                           fmt::format("the background pusher did not store '{}' within {} s", name,
                                       options.timeout_seconds)))
          .WithHint(fmt::format("see '{}/pusher.log'; raise --archive-timeout if the repository "
                                "is slow; PostgreSQL retries the segment",
                                options.spool_path));
    StartPusher(options, wal_dir, open);
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min(sleep_us * 2, 10000);
  }
}

Status RunArchivePusher(const AsyncOptions& options, const std::string& wal_dir,
                        const RepoOpener& open) {
  std::string lock = options.spool_path + "/pusher.lock";
  int lock_fd = TryLock(lock);
  if (lock_fd < 0) return Status::Ok();  // another pusher runs
  WritePid(lock_fd);
  PGV_RETURN_IF_ERROR(MakeDirs(options.spool_path + "/out", 0700));
  auto repo = OpenWithRetry(open, options.timeout_seconds);
  if (!repo.ok()) return repo.status().Context("the background pusher gives up");
  Pusher pusher(options, wal_dir, **repo);
  WorkerGroup workers;
  workers.Start(options.jobs, [&](const std::stop_token&) {
    pusher.Work();
    return Status::Ok();  // failures are reported per segment
  });

  double idle_since = MonotonicSeconds();
  for (;;) {
    std::vector<std::string> ready = ListReady(pusher.status_dir());
    if (pusher.Scan(ready)) {
      idle_since = MonotonicSeconds();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    pusher.Tidy(ready);
    if (MonotonicSeconds() - idle_since < 2.0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    // Release the lock, then look again: a segment that became ready after the last look
    // either sees the lock free (and its archive-push starts a pusher) or is found here.
    if (::ftruncate(lock_fd, 0) != 0) {
    }  // no pid: nobody mistakes an exiting pusher for the running one
    ::close(lock_fd);
    bool more = false;
    for (const auto& name : ListReady(pusher.status_dir())) more = more || !pusher.HasResult(name);
    if (more) lock_fd = TryLock(lock);
    if (!more || lock_fd < 0) break;
    WritePid(lock_fd);
  }
  pusher.Close();
  (void)workers.Wait();
  LogUsage();
  return Status::Ok();
}

Status ArchiveGetPrefetch(const std::string& name, const std::string& dest,
                          const GetOptions& options, const RepoOpener& open) {
  if (options.prefetch <= 0 || pg::ClassifyWalFileName(name) != pg::WalFileKind::kSegment) {
    auto repo = open();
    if (!repo.ok()) return NotAboutTheWalFile(repo.status());
    return ArchiveGet(**repo, name, dest);
  }
  std::string dir = DirName(dest) + "/pgvault-prefetch";
  PGV_RETURN_IF_ERROR(NotAboutTheWalFile(MakeDirs(dir, 0700)));
  // PostgreSQL asks in order: what lies before this segment will not be asked for again.
  for (const auto& f : ListQueue(dir))
    if (f.name.substr(8) < name.substr(8)) ::unlink((dir + "/" + f.name).c_str());
  std::string ready = dir + "/" + name;
  Status status;
  if (::rename(ready.c_str(), dest.c_str()) == 0) {
    log::Info("served '{}' from the prefetch queue", name);
  } else {
    auto repo = open();
    if (!repo.ok()) return NotAboutTheWalFile(repo.status());
    status = ArchiveGet(**repo, name, dest);
  }
  if (status.ok()) {
    // The segment size from the segment's long page header (its first bytes); no prefetch for
    // other files.
    auto data = ReadFileHead(dest, 8192);
    if (!data.ok()) return status;
    auto header = pg::ParseWalSegmentHeader(*data);
    if (!header.ok()) return status;
    uint64_t segment_size = header->segment_size;
    PGV_RETURN_IF_ERROR(NotAboutTheWalFile(
        WriteFileAtomic(dir + "/want", AsBytes(fmt::format("{} {}", name, segment_size)))));
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

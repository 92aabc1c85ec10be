#include "common/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace pgvault {
namespace {

std::string UniqueTempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}/{}{}.{}.{:x}", DirName(path), kTempFileMarker, ::getpid(), counter++,
                     rng() & 0xffffff);
}

// Moves the finished temp file to path: rename, or link for if_absent (link fails when the
// name exists, which makes "create only if absent" atomic).
Status Publish(const std::string& tmp, const std::string& path, bool if_absent) {
  if (!if_absent) {
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      return ErrnoStatus("cannot rename into", path, errno);
    return Status::Ok();
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    return err == EEXIST ? Status::Conflict(fmt::format("'{}' already exists", path))
                         : ErrnoStatus("cannot link", path, err);
  }
  ::unlink(tmp.c_str());
  return Status::Ok();
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status UniqueFd::Close(const std::string& path) {
  if (::close(release()) != 0) return ErrnoStatus("cannot close", path, errno);
  return Status::Ok();
}

Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string msg = fmt::format("{} '{}': {}", what, path, std::strerror(err));
  if (err == ENOENT) return Status::NotFound(msg);
  if (err == EACCES || err == EPERM)
    return std::move(Status::Io(msg)).WithHint("check the owner and permissions of that path");
  if (err == ENOSPC || err == EDQUOT)
    return std::move(Status::Io(msg))
        .WithHint("free space on that file system (for a repository: expire, then gc) and run again");
  return Status::Io(msg);
}

Result<size_t> ReadFull(int fd, std::span<uint8_t> buf, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status WriteFull(int fd, ByteView data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write", path, errno);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status PwriteFull(int fd, ByteView data, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write", path, errno);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, ByteView data, const AtomicWriteOptions& options) {
  return WriteFileAtomic(
      path, [&](int fd, const std::string& tmp) { return WriteFull(fd, data, tmp); }, options);
}

Status WriteFileAtomic(const std::string& path, const WriteBody& write_body,
                       const AtomicWriteOptions& options) {
  std::string tmp = options.temp_path.empty() ? UniqueTempName(path) : options.temp_path;
  // A unique name must be new; a fixed one may be a crashed writer's leftover.
  int excl = options.temp_path.empty() ? O_EXCL : O_TRUNC;
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | excl | O_CLOEXEC, options.mode));
  if (!fd) return ErrnoStatus("cannot create", tmp, errno);
  Status s = write_body(fd.get(), tmp);
  if (s.ok() && options.sync && ::fsync(fd.get()) != 0) s = ErrnoStatus("cannot fsync", tmp, errno);
  Status closed = fd.Close(tmp);
  if (s.ok()) s = closed;
  if (s.ok()) s = Publish(tmp, path, options.if_absent);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return options.sync ? SyncDir(DirName(path)) : Status::Ok();
}

Status SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync directory", dir, errno);
  return Status::Ok();
}

Status MakeDirs(const std::string& dir, int mode) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return Status::Io(fmt::format("'{}' exists and is not a directory", dir));
  }
  std::string parent = DirName(dir);
  if (parent != dir) PGV_RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return ErrnoStatus("cannot create directory", dir, errno);
  return SyncDir(parent);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace pgvault

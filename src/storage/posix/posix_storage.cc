#include "storage/posix/posix_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace pgvault::storage {
namespace {

constexpr std::string_view kTempMarker = ".pgvault-tmp.";

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string TempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{}{}.{}.{:x}", Parent(path) + "/", kTempMarker, getpid(), counter++,
                     rng() & 0xffffff);
}

Status WriteAll(int fd, ByteView data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos ||
      key.find(kTempMarker) != std::string_view::npos)
    return Status::Internal(fmt::format("invalid storage key '{}'", key));
  return Status::Ok();
}

void Walk(const std::string& root, const std::string& rel, std::string_view prefix,
          std::vector<ObjectInfo>& out, Status& status) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno != ENOENT && errno != ENOTDIR) status = ErrnoStatus("cannot list", dir, errno);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.starts_with(kTempMarker)) continue;
    std::string key = rel.empty() ? name : rel + "/" + name;
    // Only descend where the prefix can still match.
    size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix.substr(0, common)) != 0) continue;
    struct stat st;
    if (::lstat((root + "/" + key).c_str(), &st) != 0) continue;  // vanished meanwhile
    if (S_ISDIR(st.st_mode)) {
      Walk(root, key, prefix, out, status);
    } else if (S_ISREG(st.st_mode) && key.starts_with(prefix)) {
      out.push_back({key, static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec});
    }
  }
  ::closedir(d);
}

}  // namespace

Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string msg = fmt::format("{} '{}': {}", what, path, std::strerror(err));
  if (err == ENOENT) return Status::NotFound(msg);
  if (err == EACCES || err == EPERM)
    return std::move(Status::Io(msg)).WithHint("check the owner and permissions of that path");
  return Status::Io(msg);
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir, err);
  return Status::Ok();
}

Status MakeDirs(const std::string& dir, int mode) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return Status::Io(fmt::format("'{}' exists and is not a directory", dir));
  }
  std::string parent = Parent(dir);
  if (parent != dir) PGV_RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return ErrnoStatus("cannot create directory", dir, errno);
  return SyncDir(parent);
}

Features PosixStorage::features() const {
  return Features{.atomic_if_absent = true, .object_lock = false, .local = true};
}

std::string PosixStorage::Path(std::string_view key) const {
  return root_ + "/" + std::string(key);
}

Status PosixStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  std::string dir = Parent(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (!create_root_ && ::stat(root_.c_str(), &st) != 0)
      return std::move(Status::Unavailable(
                           fmt::format("repository directory '{}' does not exist", root_)))
          .WithHint(
              "is the repository's file system mounted? create new repositories with repo-create");
    PGV_RETURN_IF_ERROR(MakeDirs(dir));
  }
  std::string tmp = TempName(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  Status s = WriteAll(fd, data, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("cannot fsync", tmp, errno);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("cannot close", tmp, errno);
  if (s.ok()) {
    if (options.if_absent) {
      // link() fails if the name exists, which makes "create only if absent" atomic.
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        s = err == EEXIST ? Status::Conflict(fmt::format("'{}' already exists", path))
                          : ErrnoStatus("cannot link", path, err);
      }
      ::unlink(tmp.c_str());
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      s = ErrnoStatus("cannot rename into", path, errno);
    }
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(dir);
}

Result<Bytes> PosixStorage::Get(std::string_view key, Range range) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("cannot stat", path, err);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t begin = std::min(range.offset, size);
  uint64_t len = std::min(range.length.value_or(size - begin), size - begin);
  Bytes out(len);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out.data() + done, len - done, static_cast<off_t>(begin + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return ErrnoStatus("cannot read", path, err);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Result<std::vector<ObjectInfo>> PosixStorage::List(std::string_view prefix) {
  std::vector<ObjectInfo> out;
  Status status;
  Walk(root_, "", prefix, out, status);
  if (!status.ok()) return status;
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Result<ObjectInfo> PosixStorage::Stat(std::string_view key) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  return ObjectInfo{std::string(key), static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec};
}

Status PosixStorage::Delete(std::string_view key) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus("cannot delete", path, errno);
  return Status::Ok();
}

}  // namespace pgvault::storage

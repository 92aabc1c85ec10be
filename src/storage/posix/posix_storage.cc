#include "storage/posix/posix_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/crash_point.h"

namespace pgvault::storage {
namespace {

constexpr std::string_view kTempMarker = kTempFileMarker;

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos ||
      key.find(kTempMarker) != std::string_view::npos)
    return Status::Internal(fmt::format("invalid storage key '{}'", key));
  return Status::Ok();
}

// The regular files under root/rel whose keys start with prefix: the objects, or with temps the
// temp files of unfinished writes instead (which listings never show). Temp directories are
// never entered.
void Walk(const std::string& root, const std::string& rel, std::string_view prefix, bool temps,
          std::vector<ObjectInfo>& out, Status& status) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno != ENOENT && errno != ENOTDIR) status = ErrnoStatus("cannot list", dir, errno);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    bool temp = name.starts_with(kTempMarker);
    if (name == "." || name == ".." || (temp && !temps)) continue;
    std::string key = rel.empty() ? name : fmt::format("{}/{}", rel, name);
    // Only descend where the prefix can still match.
    size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix.substr(0, common)) != 0) continue;
    struct stat st;
    if (::lstat(fmt::format("{}/{}", root, key).c_str(), &st) != 0) continue;  // vanished meanwhile
    if (S_ISDIR(st.st_mode) && !temp) {
      Walk(root, key, prefix, temps, out, status);
    } else if (S_ISREG(st.st_mode) && temp == temps && key.starts_with(prefix)) {
      out.push_back({key, static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec});
    }
  }
  ::closedir(d);
}

}  // namespace

Features PosixStorage::features() const {
  return Features{.atomic_if_absent = true, .object_lock = false, .local = true};
}

std::string PosixStorage::Path(std::string_view key) const {
  return root_ + "/" + std::string(key);
}

Status PosixStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  std::string dir = DirName(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (!create_root_ && ::stat(root_.c_str(), &st) != 0)
      return std::move(Status::Unavailable(
                           fmt::format("repository directory '{}' does not exist", root_)))
          .WithHint(
              "is the repository's file system mounted? create new repositories with repo-create");
    PGV_RETURN_IF_ERROR(MakeDirs(dir));
  }
  AtomicWriteOptions write{.mode = options.owner_only ? 0600 : 0640,
                           .if_absent = options.if_absent};
  if (!CrashPointsArmed()) return WriteFileAtomic(path, data, write);
  // Crash tests: a mid-write crash point with half of the object in the temp file.
  return WriteFileAtomic(
      path,
      [&](int fd, const std::string& tmp) {
        ByteView half = data.first(data.size() / 2);
        PGV_RETURN_IF_ERROR(WriteFull(fd, half, tmp));
        CrashPoint(fmt::format("half of {} written, not yet renamed", key), CrashKind::kMidWrite);
        return WriteFull(fd, data.subspan(half.size()), tmp);
      },
      write);
}

Result<Bytes> PosixStorage::Get(std::string_view key, Range range) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  std::string path = Path(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t begin = std::min(range.offset, size);
  uint64_t len = std::min(range.length.value_or(size - begin), size - begin);
  Bytes out(len);
  PGV_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), out, begin, path));
  // Shorter than fstat said: truncated while read.
  if (n < len) return ErrnoStatus("cannot read", path, EIO);
  return out;
}

Result<std::vector<ObjectInfo>> PosixStorage::List(std::string_view prefix) {
  std::vector<ObjectInfo> out;
  Status status;
  Walk(root_, "", prefix, /*temps=*/false, out, status);
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

Result<Storage::AbandonedWrites> PosixStorage::RemoveAbandonedWrites(int64_t older_than_unix,
                                                                     bool dry_run) {
  std::vector<ObjectInfo> temps;
  Status status;
  Walk(root_, "", "", /*temps=*/true, temps, status);
  if (!status.ok()) return status;
  AbandonedWrites removed;
  for (const auto& temp : temps) {
    if (temp.mtime_unix >= older_than_unix) continue;  // its writer may still be at work
    std::string path = Path(temp.key);
    if (!dry_run && ::unlink(path.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus("cannot delete", path, errno);
    removed.count++;
    removed.bytes += temp.size;
  }
  return removed;
}

}  // namespace pgvault::storage

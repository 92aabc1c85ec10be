#include "stream/segment_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "pg/wal_names.h"

namespace pgvault::stream {

Result<std::optional<SpooledSegment>> SegmentSpool::Recover() {
  PGV_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return ErrnoStatus("cannot open", dir_, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string file = e->d_name;
    if (!file.ends_with(".partial")) continue;
    std::string name = file.substr(0, file.size() - 8);
    if (pg::ClassifyWalFileName(name) == pg::WalFileKind::kSegment) names.push_back(name);
  }
  ::closedir(d);
  if (names.empty()) return std::optional<SpooledSegment>();
  std::sort(names.begin(), names.end());
  struct stat st {};
  if (::stat(PathOf(names[0]).c_str(), &st) != 0)
    return ErrnoStatus("cannot stat", PathOf(names[0]), errno);
  return std::optional<SpooledSegment>(SpooledSegment{names[0], static_cast<uint64_t>(st.st_size)});
}

Status SegmentSpool::Open(const std::string& name) {
  std::string path = PathOf(name);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("cannot create", path, errno);
  fd_ = UniqueFd(fd);
  name_ = name;
  // The new file's directory entry must survive a crash as well as its bytes.
  return SyncDir(dir_);
}

Status SegmentSpool::Write(uint64_t offset, ByteView data) {
  return PwriteFull(fd_.get(), data, offset, PathOf(name_));
}

Status SegmentSpool::Sync() {
  if (fd_.get() < 0) return Status::Ok();
  if (::fdatasync(fd_.get()) != 0) return ErrnoStatus("cannot sync", PathOf(name_), errno);
  return Status::Ok();
}

Result<Bytes> SegmentSpool::Read(const std::string& name, uint64_t length) {
  std::string path = PathOf(name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open", path, errno);
  Bytes data(length);
  PGV_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), data, 0, path));
  if (n != length)
    return Status::Io(fmt::format("'{}' holds {} bytes, expected {}", path, n, length));
  return data;
}

Status SegmentSpool::Remove(const std::string& name) {
  if (name == name_) {
    fd_.reset();
    name_.clear();
  }
  if (::unlink(PathOf(name).c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus("cannot remove", PathOf(name), errno);
  return SyncDir(dir_);
}

}  // namespace pgvault::stream

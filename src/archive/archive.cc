#include "archive/archive.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path) {
  std::string name = BaseName(path);
  pg::WalFileKind kind = pg::ClassifyWalFileName(name);
  if (kind == pg::WalFileKind::kInvalid)
    return std::move(Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name)))
        .WithHint("archive_command must pass %p, e.g. archive_command = 'pgvault archive-push %p'");
  PGV_ASSIGN_OR_RETURN(Bytes data, ReadWholeFile(path));
  if (kind == pg::WalFileKind::kSegment || kind == pg::WalFileKind::kPartial) {
    auto header = pg::ParseWalSegmentHeader(data);
    if (!header.ok())
      return Status::InvalidArgument(fmt::format("'{}' is not a PostgreSQL WAL segment: {}", path,
                                                 header.status().message()));
    if (header->timeline != pg::TimelineOfWalFile(name))
      return Status::InvalidArgument(fmt::format("'{}' holds timeline {} but its name says {}", path,
                                                 header->timeline, pg::TimelineOfWalFile(name)));
    PGV_RETURN_IF_ERROR(repo.CheckCluster(header->system_identifier, header->pg_version_major));
  }
  PGV_ASSIGN_OR_RETURN(repo::PushOutcome outcome, repo::PushWal(repo, name, data));
  return fmt::format("{} '{}'", outcome == repo::PushOutcome::kStored ? "archived" : "already archived",
                     name);
}

Status ArchiveGet(repo::Repository& repo, const std::string& name, const std::string& dest) {
  PGV_ASSIGN_OR_RETURN(Bytes data, repo::GetWal(repo, name));
  std::string tmp = dest + ".pgvault-tmp";
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
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), dest.c_str()) != 0) s = storage::ErrnoStatus("cannot rename to", dest, errno);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace pgvault::archive

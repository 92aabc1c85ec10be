#include "restore/delta.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/file.h"
#include "restore/restore.h"

namespace pgvault::restore {
namespace {

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoStatus("cannot list", dir, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  return names;
}

// The pid postmaster.pid names when that process runs (or runs as another user), else 0.
long LivePostmaster(const std::string& pgdata) {
  std::ifstream in(pgdata + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return pid;
  return 0;
}

// pg_control starts with the system identifier (uint64, the server's byte order).
Result<std::string> SystemIdentifier(const std::string& pgdata) {
  std::string path = pgdata + "/global/pg_control";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("cannot open", path, errno);
  uint8_t raw[8];
  PGV_ASSIGN_OR_RETURN(size_t got, ReadFull(fd.get(), raw, path));
  if (got != sizeof raw) return Status::Corruption(fmt::format("'{}' is too short", path));
  uint64_t id;
  std::memcpy(&id, raw, sizeof id);
  return std::to_string(id);
}

class Cleaner {
 public:
  Cleaner(const BackupPaths& paths, const TablespaceTargets& ts_targets)
      : paths_(paths), ts_targets_(ts_targets) {}

  Status Walk(const std::string& abs, const std::string& rel) {
    PGV_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(abs));
    // The markers stay: pgdata's and each tablespace directory's (pg_tblspc/<oid>).
    bool marked_dir = rel.empty() || (rel.starts_with("pg_tblspc/") &&
                                      rel.find('/', sizeof("pg_tblspc/") - 1) == std::string::npos);
    for (const auto& name : names) {
      if (marked_dir && name == kIncompleteMarker) continue;
      std::string child_rel = rel.empty() ? name : fmt::format("{}/{}", rel, name);
      PGV_RETURN_IF_ERROR(Entry(fmt::format("{}/{}", abs, name), child_rel));
    }
    return Status::Ok();
  }

  uint64_t removed() const { return removed_; }

 private:
  Status Entry(const std::string& abs, const std::string& rel) {
    struct stat st;
    if (::lstat(abs.c_str(), &st) != 0) return ErrnoStatus("cannot stat", abs, errno);
    auto it = paths_.find(rel);
    if (it != paths_.end()) {
      switch (it->second) {
        case repo::EntryType::kFile:
          if (S_ISREG(st.st_mode)) return Status::Ok();
          break;
        case repo::EntryType::kDir:
          if (S_ISDIR(st.st_mode) || (rel == "pg_wal" && IsDirLink(abs, st))) return Walk(abs, rel);
          break;
        case repo::EntryType::kSymlink:
          return TablespaceLink(abs, rel, st);
      }
    }
    return Remove(abs, st);
  }

  static bool IsDirLink(const std::string& abs, const struct stat& st) {
    struct stat target;
    return S_ISLNK(st.st_mode) && ::stat(abs.c_str(), &target) == 0 && S_ISDIR(target.st_mode);
  }

  // pg_tblspc/<oid>: kept when it points where the restore puts the tablespace, else removed
  // (restore links it anew); the tablespace's directory is cleaned either way.
  Status TablespaceLink(const std::string& abs, const std::string& rel, const struct stat& st) {
    auto ts = ts_targets_.find(rel.substr(rel.rfind('/') + 1));
    if (ts == ts_targets_.end())
      return Status::Corruption(fmt::format("manifest holds an unexpected link '{}'", rel));
    std::error_code ec;
    bool right = S_ISLNK(st.st_mode) && std::filesystem::read_symlink(abs, ec) == ts->second;
    if (!right) PGV_RETURN_IF_ERROR(Remove(abs, st));
    struct stat dir;
    if (::stat(ts->second.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) return Status::Ok();
    return Walk(ts->second, rel);
  }

  // A directory goes with everything in it; links are removed, never followed.
  Status Remove(const std::string& abs, const struct stat& st) {
    if (!S_ISDIR(st.st_mode)) {
      if (::unlink(abs.c_str()) != 0) return ErrnoStatus("cannot remove", abs, errno);
      removed_++;
      return Status::Ok();
    }
    std::error_code ec;
    auto count = std::filesystem::remove_all(abs, ec);
    if (ec) return ErrnoStatus("cannot remove", abs, ec.value());
    removed_ += count;
    return Status::Ok();
  }

  const BackupPaths& paths_;
  const TablespaceTargets& ts_targets_;
  uint64_t removed_ = 0;
};

}  // namespace

Status CheckDeltaTarget(const std::string& pgdata, const std::string& system_identifier) {
  auto names = ListDir(pgdata);
  if (!names.ok() && names.status().IsNotFound()) return Status::Ok();
  PGV_RETURN_IF_ERROR(names.status());
  if (names->empty()) return Status::Ok();
  if (long pid = LivePostmaster(pgdata))
    return std::move(
               Status::Pg(fmt::format(
                   "PostgreSQL is running on '{}' (postmaster.pid names process {})", pgdata, pid)))
        .WithHint(fmt::format(
            "stop the server (pg_ctl stop -D '{}') and run restore --delta again; nothing "
            "was changed",
            pgdata));
  auto found = SystemIdentifier(pgdata);
  if (!found.ok()) {
    bool marked = std::find(names->begin(), names->end(), kIncompleteMarker) != names->end();
    if (marked && found.status().IsNotFound()) return Status::Ok();  // an interrupted restore
    return std::move(
               Status::InvalidArgument(fmt::format("'{}' is not a PostgreSQL data directory: {}",
                                                   pgdata, found.status().message())))
        .WithHint(
            "restore --delta works on a data directory of the backed-up cluster; restore into an "
            "empty directory without --delta; nothing was changed");
  }
  if (*found != system_identifier)
    return std::move(Status::InvalidArgument(fmt::format(
                         "'{}' holds another cluster (system identifier {}, the backup's is {})",
                         pgdata, *found, system_identifier)))
        .WithHint(
            "restore --delta works on a data directory of the backed-up cluster only; restore "
            "into an empty directory instead; nothing was changed");
  return Status::Ok();
}

Status CheckDeltaTablespace(const std::string& dir) {
  auto names = ListDir(dir);
  if (!names.ok() && names.status().IsNotFound()) return Status::Ok();
  PGV_RETURN_IF_ERROR(names.status());
  for (const auto& name : *names)
    if (!name.starts_with("PG_") && name != kIncompleteMarker)
      return std::move(
                 Status::InvalidArgument(fmt::format(
                     "tablespace directory '{}' holds '{}', which is not PostgreSQL's", dir, name)))
          .WithHint(
              "restore --delta removes what the backup does not hold; map the tablespace to its "
              "own directory with --tablespace-map OID=DIR; nothing was changed");
  return Status::Ok();
}

Result<uint64_t> RemoveExtraneous(const std::string& pgdata, const BackupPaths& paths,
                                  const TablespaceTargets& ts_targets) {
  Cleaner cleaner(paths, ts_targets);
  PGV_RETURN_IF_ERROR(cleaner.Walk(pgdata, ""));
  return cleaner.removed();
}

}  // namespace pgvault::restore

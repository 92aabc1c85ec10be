#include "backup/pgdata_walk.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/file.h"

namespace pgvault::backup {
namespace {

// Directories whose contents a base backup leaves out (the directory itself is kept).
const std::set<std::string, std::less<>> kEmptiedDirs = {
    "pg_wal",    "pg_dynshmem",  "pg_notify",   "pg_replslot",
    "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans"};
// Files left out wherever they are (top level only, except pg_internal.init).
const std::set<std::string, std::less<>> kSkippedTopFiles = {
    "postmaster.pid",       "postmaster.opts",  "backup_label",
    "tablespace_map",       "backup_label.old", "postgresql.auto.conf.tmp",
    "current_logfiles.tmp", "recovery.signal",  "standby.signal"};

bool IsRelationFile(std::string_view name, std::string& relfilenode) {
  size_t digits = 0;
  while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) digits++;
  if (digits == 0) return false;
  relfilenode = std::string(name.substr(0, digits));
  std::string_view rest = name.substr(digits);
  return rest.empty() || rest.starts_with(".") || rest.starts_with("_fsm") ||
         rest.starts_with("_vm") || rest.starts_with("_init");
}

// A relation directory is base/<db> or a tablespace's <version>/<db>.
bool IsRelationDir(std::string_view rel) {
  return (rel.starts_with("base/") && std::count(rel.begin(), rel.end(), '/') == 1) ||
         (rel.starts_with("pg_tblspc/") && std::count(rel.begin(), rel.end(), '/') == 3);
}

class Walker {
 public:
  explicit Walker(WalkResult& out) : out_(out) {}

  Status Dir(const std::string& abs, const std::string& rel) {
    DIR* d = ::opendir(abs.c_str());
    if (!d) {
      if (errno == ENOENT && !rel.empty()) return Status::Ok();  // dropped meanwhile
      return ErrnoStatus("cannot list", abs, errno);
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());

    // Unlogged relations: only their _init fork is backed up; restore resets them anyway.
    std::set<std::string> unlogged;
    if (IsRelationDir(rel)) {
      for (const auto& n : names)
        if (n.ends_with("_init")) unlogged.insert(n.substr(0, n.size() - 5));
    }

    for (const auto& name : names) {
      std::string child_rel = rel.empty() ? name : fmt::format("{}/{}", rel, name);
      std::string child_abs = fmt::format("{}/{}", abs, name);
      if (rel.empty() && kSkippedTopFiles.count(name)) continue;
      if (name == "pg_internal.init" || name.starts_with("pgsql_tmp")) continue;
      std::string relfilenode;
      if (!unlogged.empty() && IsRelationFile(name, relfilenode) && unlogged.count(relfilenode) &&
          !name.ends_with("_init"))
        continue;
      struct stat st;
      if (::lstat(child_abs.c_str(), &st) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus("cannot stat", child_abs, errno);
      }
      bool emptied = rel.empty() && kEmptiedDirs.count(name);
      bool tablespace_link = rel == "pg_tblspc" && S_ISLNK(st.st_mode);
      if (S_ISLNK(st.st_mode) && !tablespace_link) {
        // Other links (e.g. pg_wal on another disk) are restored as plain directories.
        if (::stat(child_abs.c_str(), &st) != 0) continue;
      }
      WalkEntry e{.path = child_rel,
                  .source_path = child_abs,
                  .mode = st.st_mode & 07777u,
                  .mtime = st.st_mtim.tv_sec};
      if (tablespace_link) {
        char target[4096];
        ssize_t n = ::readlink(child_abs.c_str(), target, sizeof target - 1);
        if (n < 0) return ErrnoStatus("cannot read link", child_abs, errno);
        e.type = repo::EntryType::kSymlink;
        e.link_target.assign(target, n);
        out_.entries.push_back(e);
        out_.tablespaces.push_back({name, e.link_target});
        PGV_RETURN_IF_ERROR(Dir(child_abs, child_rel));
      } else if (S_ISDIR(st.st_mode)) {
        e.type = repo::EntryType::kDir;
        out_.entries.push_back(e);
        if (emptied) {
          // pg_wal/archive_status must exist for the restored server to archive.
          if (name == "pg_wal")
            out_.entries.push_back(WalkEntry{
                .type = repo::EntryType::kDir, .path = "pg_wal/archive_status", .mode = 0700});
          continue;
        }
        PGV_RETURN_IF_ERROR(Dir(child_abs, child_rel));
      } else if (S_ISREG(st.st_mode)) {
        e.type = repo::EntryType::kFile;
        e.size = static_cast<uint64_t>(st.st_size);
        out_.total_bytes += e.size;
        out_.entries.push_back(e);
      }
      // Sockets, FIFOs and devices do not belong in a backup.
    }
    return Status::Ok();
  }

 private:
  WalkResult& out_;
};

}  // namespace

Result<WalkResult> WalkPgdata(const std::string& pgdata) {
  WalkResult out;
  Walker walker(out);
  PGV_RETURN_IF_ERROR(walker.Dir(pgdata, ""));
  std::sort(out.entries.begin(), out.entries.end(),
            [](const WalkEntry& a, const WalkEntry& b) { return a.path < b.path; });
  return out;
}

}  // namespace pgvault::backup

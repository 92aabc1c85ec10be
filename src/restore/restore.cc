#include "restore/restore.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "common/crash_point.h"
#include "common/file.h"
#include "common/log.h"
#include "common/time.h"
#include "pg/wal_names.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/wal_ranges.h"
#include "repo/wal_store.h"
#include "restore/delta.h"
#include "restore/file_restorer.h"

namespace pgvault::restore {
namespace {

// Failures to write the target are local I/O (exit 4), also when a path component is missing:
// kNotFound would read as "no such backup or segment".
Status TargetIo(const Status& s) {
  if (s.code() != Code::kNotFound) return s;
  return std::move(Status::Io(s.message()))
      .WithHint("check the path: restore creates the directory and writes into it");
}

std::string ReadText(const std::string& path) {
  std::string text;
  if (FILE* in = ::fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = ::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
    ::fclose(in);
  }
  return text;
}

// The marker's first line: "pgvault restore of backup ID started at TIME (pid N)".
std::string MarkerLine(const std::string& backup_id) {
  return fmt::format("pgvault restore of backup {} started at {} (pid {})", backup_id,
                     FormatIsoMicros(NowUnixMicros()), ::getpid());
}

Status CheckEmptyTarget(const std::string& dir, const char* what) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return Status::Ok();
    return TargetIo(ErrnoStatus("cannot open", dir, errno));
  }
  bool empty = true, incomplete = false;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") empty = false;
    incomplete |= n == kIncompleteMarker;
  }
  ::closedir(d);
  if (incomplete) {
    // "pgvault restore of backup ID started at TIME (pid N)" -> "of backup ID from TIME"
    std::string line = ReadText(dir + "/" + kIncompleteMarker);
    line = line.substr(0, line.find('\n'));
    size_t of = line.find("of backup "), at = line.find(" started at "), pid = line.find(" (pid");
    std::string from = "from an unknown time";
    if (of != std::string::npos && at != std::string::npos && at > of)
      from = fmt::format("{} from {}", line.substr(of, at - of),
                         line.substr(at + 12, pid == std::string::npos ? pid : pid - at - 12));
    return std::move(Status::InvalidArgument(
                         fmt::format("{} '{}' holds an incomplete restore {}", what, dir, from)))
        .WithHint(fmt::format(
            "that restore failed or was interrupted (its '{}' file is still there); remove the "
            "directory (rm -rf '{}') and run restore again, or resume it with restore --delta; "
            "nothing was written",
            kIncompleteMarker, dir));
  }
  if (!empty)
    return std::move(Status::InvalidArgument(fmt::format("{} '{}' is not empty", what, dir)))
        .WithHint(
            "restore into an empty or new directory, or with --delta onto a stopped data "
            "directory of the same cluster; nothing was written");
  return Status::Ok();
}

// Makes every file and directory written under dirs durable with one syncfs(2) per file system
// instead of one fsync per file (80,000 files of a 20,000-table cluster cost one journal commit
// each). It also syncs whatever else is dirty on those file systems; since Linux 5.8 it reports
// writeback errors of the file system like fsync does.
Status SyncFileSystems(const std::vector<std::string>& dirs) {
  std::set<dev_t> synced;
  for (const auto& dir : dirs) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return TargetIo(ErrnoStatus("cannot open directory", dir, errno));
    struct stat st;
    int rc = ::fstat(fd.get(), &st);
    if (rc == 0 && synced.insert(st.st_dev).second) rc = ::syncfs(fd.get());
    if (rc != 0) return TargetIo(ErrnoStatus("cannot sync the file system of", dir, errno));
  }
  return Status::Ok();
}

Status WriteSmallFile(const std::string& path, std::string_view content, int mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return ErrnoStatus("cannot create", path, errno);
  PGV_RETURN_IF_ERROR(WriteFull(fd.get(), AsBytes(content), path));
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", path, errno);
  return Status::Ok();
}

// Quotes a value for postgresql.auto.conf.
std::string ConfQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Recovery settings go at the end of postgresql.auto.conf, which PostgreSQL reads last. Earlier
// lines for the same settings (e.g. left by a previous restore of the source) are dropped so that
// two different targets can never be in effect at once.
Status WriteRecoveryConf(const std::string& conf_path, const std::string& backup_id,
                         const RestoreOptions& options, const RecoveryTarget& target) {
  using Kind = RecoveryTarget::Kind;
  std::vector<std::pair<std::string, std::string>> settings;
  settings.emplace_back("restore_command", ConfQuote(options.restore_command));
  switch (target.kind) {
    case Kind::kTime:
      settings.emplace_back("recovery_target_time", ConfQuote(target.value));
      break;
    case Kind::kLsn:
      settings.emplace_back("recovery_target_lsn", ConfQuote(target.value));
      break;
    case Kind::kXid:
      settings.emplace_back("recovery_target_xid", ConfQuote(target.value));
      break;
    case Kind::kName:
      settings.emplace_back("recovery_target_name", ConfQuote(target.value));
      break;
    case Kind::kImmediate:
      settings.emplace_back("recovery_target", "'immediate'");
      break;
    case Kind::kEndOfWal:
      break;
  }
  if (target.inclusive)
    settings.emplace_back("recovery_target_inclusive", *target.inclusive ? "on" : "off");
  if (!target.action.empty())
    settings.emplace_back("recovery_target_action", ConfQuote(target.action));
  if (!target.timeline.empty())
    settings.emplace_back("recovery_target_timeline", ConfQuote(target.timeline));
  if (options.standby && !options.primary_conninfo.empty())
    settings.emplace_back("primary_conninfo", ConfQuote(options.primary_conninfo));
  if (options.archive_mode_off) settings.emplace_back("archive_mode", "off");
  if (options.port) settings.emplace_back("port", std::to_string(*options.port));

  static const char* kManaged[] = {"restore_command",           "recovery_target",
                                   "recovery_target_time",      "recovery_target_lsn",
                                   "recovery_target_xid",       "recovery_target_name",
                                   "recovery_target_inclusive", "recovery_target_action",
                                   "recovery_target_timeline",  "primary_conninfo"};
  auto managed = [&](const std::string& key) {
    for (const char* m : kManaged)
      if (key == m) return true;
    for (const auto& [k, v] : settings)
      if (key == k) return true;
    return false;
  };
  std::string old = ReadText(conf_path);
  std::string conf;
  size_t pos = 0;
  while (pos < old.size()) {
    size_t end = old.find('\n', pos);
    if (end == std::string::npos) end = old.size();
    std::string line = old.substr(pos, end - pos);
    pos = end + 1;
    size_t key_start = line.find_first_not_of(" \t");
    size_t key_end = line.find_first_of(" \t=", key_start);
    std::string key =
        key_start == std::string::npos ? "" : line.substr(key_start, key_end - key_start);
    if (!key.empty() && key[0] != '#' && managed(key)) {
      conf += "# (replaced by pgvault restore) " + line + "\n";
      continue;
    }
    conf += line + "\n";
  }
  conf += fmt::format("# Recovery settings added by pgvault restore of backup {} at {}\n",
                      backup_id, FormatIsoMicros(NowUnixMicros()));
  for (const auto& [key, value] : settings) conf += fmt::format("{} = {}\n", key, value);
  return WriteSmallFile(conf_path, conf, 0600);
}

// Before writing anything: the WAL from the backup's start to its end must be in the repository
// (else the copy can never become consistent), and for an LSN target everything up to the
// target too. A gap after that is reported: recovery would stop there with an error from
// archive-get naming the segment, unless it reaches the target first.
// plan: ChooseBackup's, whose path holds the backup's timeline.
Status CheckWal(repo::Repository& repo, const RestorePlan& plan, const RecoveryTarget& target) {
  if (!plan.start_lsn || !plan.stop_lsn)
    return Status::Corruption("manifest has no start or stop lsn");
  const repo::WalIndex& index = plan.wal;
  const std::vector<repo::HistoryEntry>& path = plan.path;
  const uint64_t segment_size = plan.segment_size;

  uint64_t first = *plan.start_lsn / segment_size, stop = *plan.stop_lsn / segment_size;
  uint64_t needed_to = stop;
  std::string what = "make the backup consistent";
  if (target.kind == RecoveryTarget::Kind::kLsn && target.lsn / segment_size > stop) {
    needed_to = target.lsn / segment_size;
    what = "reach " + DescribeTarget(target);
  }
  auto missing = index.Missing(first, needed_to, path, 1);
  if (!missing.empty())
    return std::move(Status::NotFound(
                         fmt::format("WAL segment '{}' needed to {} is missing from the repository",
                                     missing[0], what)))
        .WithHint("check archive_command and 'pgvault check'; nothing was written");
  // Present is not enough: recovery must be able to read each segment of the backup's own range.
  for (uint64_t segno = first; segno <= stop; ++segno) {
    std::string name = index.Name(repo::WalIndex::TimelineFor(segno, path, segment_size), segno);
    Status readable = repo::CheckArchivedWal(repo, name, segment_size);
    if (!readable.ok())
      return readable
          .Context(fmt::format(
              "WAL segment '{}' needed to make the backup consistent cannot be read", name))
          .WithHint(
              "restore from a repository that holds a good copy (--repo2 DIR), or choose "
              "another backup with --backup ID; nothing was written");
  }
  uint64_t last = needed_to;
  for (const auto& step : path)
    if (!index.Segments(step.tli).empty())
      last = std::max(last, *index.Segments(step.tli).rbegin());
  // Recovery to the end of the backup reads nothing past its own WAL.
  auto later = index.Missing(needed_to + 1, last, path, 1);
  if (!later.empty() && target.kind != RecoveryTarget::Kind::kImmediate)
    log::Warn(
        "WAL segment '{}' is missing from the repository; recovery stops with an error there "
        "unless it reaches {} before",
        later[0], DescribeTarget(target));
  return Status::Ok();
}

// Every target directory before anything is written: pgdata and each tablespace's (mapped or
// as backed up) must be empty or new (--delta: pgdata this cluster's, its server stopped), and
// every --tablespace-map must name a tablespace.
Result<TablespaceTargets> CheckTargets(const std::string& backup_id,
                                       const repo::ManifestHeader& header,
                                       const RestoreOptions& options, const std::string& pgdata) {
  PGV_RETURN_IF_ERROR(options.delta ? CheckDeltaTarget(pgdata, header.system_identifier)
                                    : CheckEmptyTarget(pgdata, "target directory"));
  TablespaceTargets ts_targets;
  for (const auto& ts : header.tablespaces) {
    const std::string& oid = ts.oid;
    auto mapped = options.tablespace_map.find(oid);
    std::string location = mapped != options.tablespace_map.end() ? mapped->second : ts.location;
    if (location.empty() || location.front() != '/')
      return Status::InvalidArgument(fmt::format("tablespace {} needs an absolute location", oid));
    PGV_RETURN_IF_ERROR(
        (options.delta ? CheckDeltaTablespace(location)
                       : CheckEmptyTarget(location, "tablespace directory"))
            .Context(fmt::format("tablespace {} (map it elsewhere with --tablespace-map {}=DIR)",
                                 oid, oid)));
    ts_targets[oid] = location;
  }
  for (const auto& [oid, dir] : options.tablespace_map)
    if (!ts_targets.count(oid))
      return Status::InvalidArgument(
          fmt::format("backup '{}' has no tablespace with oid {}", backup_id, oid));
  return ts_targets;
}

// Each target is marked incomplete before anything else is written into it.
Status MarkIncomplete(const std::vector<std::string>& dirs, const std::string& backup_id) {
  std::string marker = MarkerLine(backup_id) +
                       "\nThis directory is incomplete until pgvault removes this file: do not "
                       "start PostgreSQL on it.\n";
  for (const auto& dir : dirs) {
    PGV_RETURN_IF_ERROR(TargetIo(MakeDirs(dir, 0700)));
    ::chmod(dir.c_str(), 0700);
    PGV_RETURN_IF_ERROR(TargetIo(WriteSmallFile(dir + "/" + kIncompleteMarker, marker, 0600)));
    PGV_RETURN_IF_ERROR(TargetIo(SyncDir(dir)));
  }
  return Status::Ok();
}

// A directory, or a tablespace's link in pg_tblspc to the directory it is restored into. A link
// that exists in a delta restore is the right one (RemoveExtraneous removed any other).
Status MakeDirOrLink(const repo::FileEntry& e, const std::string& target,
                     const TablespaceTargets& ts_targets, bool delta) {
  if (e.type == repo::EntryType::kDir) {
    if (::mkdir(target.c_str(), e.mode & 07777) != 0 && errno != EEXIST)
      return TargetIo(ErrnoStatus("cannot create directory", target, errno));
    return Status::Ok();
  }
  std::string oid = e.path.substr(e.path.rfind('/') + 1);
  auto it = ts_targets.find(oid);
  if (!e.path.starts_with("pg_tblspc/") || it == ts_targets.end())
    return Status::Corruption(fmt::format("manifest holds an unexpected link '{}'", e.path));
  PGV_RETURN_IF_ERROR(MakeDirs(it->second, 0700));
  if (::symlink(it->second.c_str(), target.c_str()) != 0 && !(delta && errno == EEXIST))
    return ErrnoStatus("cannot create link", target, errno);
  return Status::Ok();
}

// Reads the whole manifest once before anything is written: an entry that would leave the
// target (`..`, an absolute path, a link), a record that fails its checksum, or a part that is
// missing or does not decode refuses the restore while the target is still untouched. Parts are
// small (57 bytes per 128 KiB block) next to the data, so reading them twice costs little.
Status PreScanManifest(repo::Repository& repo, const std::string& backup_id) {
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(backup_id));
  const repo::ManifestHeader& header = reader->header();
  repo::FileEntry e;
  bool has_pg_control = false;
  while (reader->Next(e)) {
    PGV_RETURN_IF_ERROR(repo::CheckEntrySafe(e, header));
    if (e.type == repo::EntryType::kFile && repo::FileChecksum(e.blocks) != e.checksum)
      return Status::Corruption(fmt::format(
          "manifest of backup '{}': the entry of '{}' fails its checksum", backup_id, e.path));
    has_pg_control |= e.path == "global/pg_control";
  }
  PGV_RETURN_IF_ERROR(reader->status());
  if (!has_pg_control)
    return Status::Corruption(fmt::format("backup '{}' has no global/pg_control", backup_id));
  return Status::Ok();
}

// What RestoreEntries restored, and pg_control, which it leaves to be written last.
struct RestoredFiles {
  repo::FileEntry pg_control;
  uint64_t files = 0, bytes = 0;
  uint64_t unchanged = 0, rewritten = 0, bytes_written = 0;  // delta mode
};

// Restores every entry of the backup but global/pg_control (and a marker backed up from an
// incomplete directory) into pgdata and the tablespace directories.
Result<RestoredFiles> RestoreEntries(repo::Repository& repo, const std::string& backup_id,
                                     repo::ManifestReader& reader, const std::string& pgdata,
                                     const TablespaceTargets& ts_targets,
                                     const FileRestorerOptions& file_options, Progress& progress) {
  const repo::ManifestHeader& header = reader.header();
  FileRestorer restorer(repo, file_options, progress);
  std::optional<repo::FileEntry> pg_control;
  Status status;
  repo::FileEntry e;
  while (status.ok() && reader.Next(e)) {
    status = repo::CheckEntrySafe(e, header);  // the same check as verify's
    if (!status.ok()) break;
    std::string target = pgdata + "/" + e.path;
    if (e.type == repo::EntryType::kDir || e.type == repo::EntryType::kSymlink) {
      status = MakeDirOrLink(e, target, ts_targets, file_options.delta);
    } else if (e.path == kIncompleteMarker) {
      continue;  // left by a restore of the backed-up cluster: never restored
    } else if (e.path == "global/pg_control") {
      pg_control = std::move(e);
      e = repo::FileEntry{};
    } else if (bool counted = e.path != "postgresql.auto.conf";  // rewritten by every restore
               !restorer.Add(std::move(e), std::move(target), counted)) {
      break;
    }
  }
  if (status.ok() && !reader.status().ok()) status = reader.status();
  if (!status.ok()) restorer.Abort(status);
  Status files_status = restorer.Finish();
  progress.Finish();
  PGV_RETURN_IF_ERROR(files_status);
  PGV_RETURN_IF_ERROR(status);
  if (!pg_control)
    return Status::Corruption(fmt::format("backup '{}' has no global/pg_control", backup_id));
  log::Info("restore wrote {:.1f} MB of {:.1f} MB around the page cache",
            restorer.direct_bytes() / 1e6, restorer.bytes() / 1e6);
  return RestoredFiles{.pg_control = std::move(*pg_control),
                       .files = restorer.files(),
                       .bytes = restorer.bytes(),
                       .unchanged = restorer.unchanged_files(),
                       .rewritten = restorer.rewritten_files(),
                       .bytes_written = restorer.bytes_written()};
}

// Recovery settings (backup_label from pg_backup_stop, a signal file, postgresql.auto.conf),
// then pg_control last, alone: an interrupted restore leaves a directory that cannot start.
Status WriteRecoveryFiles(repo::Repository& repo, const std::string& backup_id,
                          const repo::ManifestHeader& header, const RestoreOptions& options,
                          const RecoveryTarget& target, const std::string& pgdata,
                          FileRestorerOptions file_options, RestoredFiles& restored) {
  PGV_RETURN_IF_ERROR(WriteSmallFile(pgdata + "/backup_label", header.backup_label, 0600));
  CrashPoint("restore: backup_label written");
  PGV_RETURN_IF_ERROR(WriteSmallFile(
      pgdata + (options.standby ? "/standby.signal" : "/recovery.signal"), "", 0600));
  CrashPoint("restore: signal file written");
  PGV_RETURN_IF_ERROR(
      WriteRecoveryConf(pgdata + "/postgresql.auto.conf", backup_id, options, target));
  CrashPoint("restore: recovery settings written");
  NoProgress quiet;
  file_options.jobs = 1;
  file_options.sync_each_file = true;
  FileRestorer last(repo, file_options, quiet);
  last.Add(std::move(restored.pg_control), pgdata + "/global/pg_control", /*counted=*/false);
  PGV_RETURN_IF_ERROR(last.Finish());
  restored.files += last.files();
  restored.bytes += last.bytes();
  PGV_RETURN_IF_ERROR(SyncDir(pgdata + "/global"));
  CrashPoint("restore: pg_control written");
  return Status::Ok();
}

// --delta, once the targets are marked: pg_control goes first, so that an interrupted delta
// restore leaves a directory PostgreSQL refuses to start, as an interrupted restore does; then
// whatever the backup does not hold but the files WriteRecoveryFiles rewrites anyway. Returns
// the number of entries removed.
Result<uint64_t> PrepareDelta(repo::Repository& repo, const std::string& backup_id,
                              const std::string& pgdata, const TablespaceTargets& ts_targets,
                              bool standby) {
  std::string control = pgdata + "/global/pg_control";
  if (::unlink(control.c_str()) == 0)
    PGV_RETURN_IF_ERROR(TargetIo(SyncDir(pgdata + "/global")));
  else if (errno != ENOENT)
    return TargetIo(ErrnoStatus("cannot remove", control, errno));
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(backup_id));
  BackupPaths paths = {{"backup_label", repo::EntryType::kFile},
                       {standby ? "standby.signal" : "recovery.signal", repo::EntryType::kFile}};
  repo::FileEntry e;
  while (reader->Next(e)) paths.emplace(e.path, e.type);
  PGV_RETURN_IF_ERROR(reader->status());
  auto removed = RemoveExtraneous(pgdata, paths, ts_targets);
  if (!removed.ok()) return TargetIo(removed.status());
  return removed;
}

// Complete: the markers go last, pgdata's (the first) after the tablespaces'.
Status RemoveMarkers(const std::vector<std::string>& dirs) {
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    std::string path = *it + "/" + kIncompleteMarker;
    if (::unlink(path.c_str()) != 0) return TargetIo(ErrnoStatus("cannot remove", path, errno));
    PGV_RETURN_IF_ERROR(SyncDir(*it));
    CrashPoint("restore: marker removed from " + *it);
  }
  return Status::Ok();
}

}  // namespace

Result<RestoreResult> RunRestore(repo::Repository& repo, const RestoreOptions& options,
                                 Progress& progress) {
  if (options.pgdata.empty())
    return std::move(Status::Config("no target directory given"))
        .WithHint("pass --pgdata DIR: an empty or new directory");
  RecoveryTarget target = options.target;
  PGV_RETURN_IF_ERROR(ValidateTarget(target));
  PGV_ASSIGN_OR_RETURN(RestorePlan plan, ChooseBackup(repo, target, options.backup_id));
  PGV_ASSIGN_OR_RETURN(std::string note, FitTargetToKeptWal(repo, plan, target));
  const std::string& backup_id = plan.backup_id;
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(backup_id));
  const auto& header = reader->header();
  PGV_RETURN_IF_ERROR(CheckWal(repo, plan, target));
  PGV_RETURN_IF_ERROR(PreScanManifest(repo, backup_id));

  // Check every target before writing anything.
  std::string pgdata = options.pgdata;
  while (pgdata.size() > 1 && pgdata.back() == '/') pgdata.pop_back();
  PGV_ASSIGN_OR_RETURN(TablespaceTargets ts_targets,
                       CheckTargets(backup_id, header, options, pgdata));

  double t0 = MonotonicSeconds();
  // The directories restore fills: synced once their files are written, before pg_control.
  std::vector<std::string> marked = {pgdata};
  for (const auto& [oid, location] : ts_targets) marked.push_back(location);
  PGV_RETURN_IF_ERROR(MarkIncomplete(marked, backup_id));
  CrashPoint("restore: targets marked incomplete");
  uint64_t removed = 0;
  if (options.delta) {
    PGV_ASSIGN_OR_RETURN(removed,
                         PrepareDelta(repo, backup_id, pgdata, ts_targets, options.standby));
    CrashPoint("restore: delta prepared");
  }
  FileRestorerOptions file_options{.block_size = header.block_size,
                                   .jobs = options.jobs,
                                   .backup_id = backup_id,
                                   .total_bytes = header.stats.bytes_read,
                                   .sync_each_file = false,  // SyncFileSystems below
                                   .delta = options.delta,
                                   .delta_by_time = options.delta_by_time,
                                   .direct_io = options.direct_io};
  PGV_ASSIGN_OR_RETURN(RestoredFiles restored, RestoreEntries(repo, backup_id, *reader, pgdata,
                                                              ts_targets, file_options, progress));
  // The files and the names that lead to them, before anything refers to them.
  PGV_RETURN_IF_ERROR(SyncFileSystems(marked));
  CrashPoint("restore: every file written and synced");
  PGV_RETURN_IF_ERROR(
      WriteRecoveryFiles(repo, backup_id, header, options, target, pgdata, file_options, restored));
  PGV_RETURN_IF_ERROR(RemoveMarkers(marked));
  return RestoreResult{.backup_id = backup_id,
                       .why_this_backup = plan.reason,
                       .note = note,
                       .pg_version = header.pg_version,
                       .files = restored.files,
                       .bytes = restored.bytes,
                       .seconds = MonotonicSeconds() - t0,
                       .delta = options.delta,
                       .unchanged_files = restored.unchanged,
                       .rewritten_files = restored.rewritten,
                       .removed = removed,
                       .bytes_written = restored.bytes_written};
}

std::string SummaryLine(const RestoreResult& r) {
  std::string line =
      fmt::format("restore of backup {} ({}) complete: {} files, {:.1f} MB, {:.1f} MB/s, {:.1f} s",
                  r.backup_id, r.why_this_backup, r.files, r.bytes / 1e6,
                  r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0.0, r.seconds);
  if (r.delta)
    line += fmt::format("; delta: {} files unchanged, {} rewritten, {} removed, {} bytes written",
                        r.unchanged_files, r.rewritten_files, r.removed, r.bytes_written);
  return line;
}

}  // namespace pgvault::restore

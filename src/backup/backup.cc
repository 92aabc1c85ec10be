#include "backup/backup.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <thread>

#include "backup/backup_phases.h"
#include "backup/copy_files.h"
#include "backup/page_check.h"
#include "backup/pgdata_walk.h"
#include "common/file.h"
#include "common/log.h"
#include "common/time.h"
#include "pg/wal_names.h"
#include "repo/backup_lock.h"
#include "repo/backup_objects.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/redirect.h"
#include "storage/storage.h"

namespace pgvault::backup {
namespace {

Result<std::string> RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return ErrnoStatus("cannot resolve", path, errno);
  std::string out = resolved;
  std::free(resolved);
  return out;
}

Status CheckIsPgdata(const std::string& pgdata) {
  struct stat st;
  if (::stat(pgdata.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return std::move(Status::InvalidArgument(fmt::format("'{}' is not a directory", pgdata)))
        .WithHint("pass the cluster's data directory with --pgdata");
  for (const char* marker : {"PG_VERSION", "global/pg_control"}) {
    if (::stat((pgdata + "/" + marker).c_str(), &st) != 0)
      return std::move(Status::InvalidArgument(fmt::format(
                           "'{}' is not a PostgreSQL data directory (no '{}')", pgdata, marker)))
          .WithHint("pass the cluster's data directory with --pgdata");
  }
  return Status::Ok();
}

// Another backup of the same repository may run alongside this one (each has its own id and
// lock); say so, since it doubles the load on the server.
void WarnAboutOtherBackups(storage::Storage& storage, const std::string& backup_id) {
  auto locks = repo::ListBackupLocks(storage, repo::SystemLockEnv());
  if (!locks.ok()) return;
  for (const auto& other : *locks)
    if (other.backup_id != backup_id && other.state == repo::LockState::kLive)
      log::Warn("backup '{}' is running too ({}); this backup '{}' runs alongside it",
                other.backup_id, other.DescribeOwner(), backup_id);
}

Status WaitForWal(repo::Repository& repo, const std::string& segment, int timeout_seconds) {
  auto key = repo::WalKey(segment);
  double deadline = MonotonicSeconds() + timeout_seconds;
  for (;;) {
    auto st = repo.storage().Stat(*key);
    if (st.ok()) return Status::Ok();
    if (!st.status().IsNotFound()) return st.status();
    if (MonotonicSeconds() > deadline)
      return std::move(Status::Pg(fmt::format("WAL segment '{}' needed by this backup did not "
                                              "reach the repository within {} s",
                                              segment, timeout_seconds)))
          .WithHint(
              fmt::format("set archive_command = 'pgvault --repo {} archive-push %p' and check "
                          "pg_stat_archiver; or raise --archive-timeout",
                          repo.Describe()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

repo::BackupStats MakeStats(const WalkResult& walk, const CopyTotals& totals,
                            double duration_seconds) {
  const BlockCounters& counters = totals.counters;
  const pipeline::StageTimes& times = totals.times;
  repo::BackupStats stats{
      .bytes_read = counters.bytes_read.load(),
      .blocks = counters.blocks.load(),
      .zero_blocks = counters.zero_blocks.load(),
      .reused_blocks = counters.reused_blocks.load(),
      .new_blocks = counters.new_blocks.load(),
      .delta_blocks = counters.delta_blocks.load(),
      .bytes_new_raw = totals.packs.raw_bytes_written,
      .bytes_new = totals.packs.bytes_written,
      .packs_written = totals.packs.packs_written,
      .files_vanished = counters.files_vanished.load(),
      .files_unchanged = counters.files_unchanged.load(),
      .bytes_unchanged = counters.bytes_unchanged.load(),
      .duration_seconds = duration_seconds,
      .cpu_seconds = {.read = times.read_ns / 1e9,
                      .hash = times.hash_ns / 1e9,
                      .compress = times.compress_ns / 1e9,
                      .encrypt = times.encrypt_ns / 1e9,
                      .write = times.write_ns / 1e9},
  };
  size_t files = 0;
  for (const auto& e : walk.entries) files += e.type == repo::EntryType::kFile;
  stats.files = files - counters.files_vanished;
  return stats;
}

// What the backup checks pages against, when it does: the cluster has data checksums on and
// --checksum-page is on. Pages are the server's block_size, segments its segment_size.
Result<std::optional<PageCheckConfig>> PageCheckFor(pg::PgSession& session, bool wanted,
                                                    const pg::ServerInfo& server,
                                                    uint64_t start_lsn, PageErrors& errors,
                                                    std::atomic<uint64_t>& pages_checked) {
  if (!wanted || !server.data_checksums) return std::optional<PageCheckConfig>();
  PGV_ASSIGN_OR_RETURN(std::string page_text, session.Scalar("SHOW block_size"));
  PGV_ASSIGN_OR_RETURN(std::string segment_text,
                       session.Scalar("SELECT pg_size_bytes(current_setting('segment_size'))"));
  uint64_t page_size = std::strtoull(page_text.c_str(), nullptr, 10);
  uint64_t segment_bytes = std::strtoull(segment_text.c_str(), nullptr, 10);
  if (page_size < 1024 || page_size % 128 != 0 || segment_bytes % page_size != 0)
    return Status::Pg(fmt::format("the server reports an odd block_size '{}' or segment_size '{}'",
                                  page_text, segment_text));
  return std::optional<PageCheckConfig>(
      PageCheckConfig{.page_size = static_cast<uint32_t>(page_size),
                      .pages_per_segment = segment_bytes / page_size,
                      .start_lsn = start_lsn,
                      .errors = &errors,
                      .pages_checked = &pages_checked});
}

// Files unchanged since the parent backup read them are taken from it unread (docs/design.md,
// "Unchanged files"): a file qualifies when its size and mtime are what the parent recorded and
// that mtime is more than a whole second before the parent started, so no write after the
// parent's read can have left the mtime as it was. Every file is read after a timeline switch or
// from another data directory (a promoted or restored copy keeps times that need not follow
// this rule), when the clock went back, and with --full-scan. Returns 0 for "read every file".
int64_t UnchangedBefore(const ParentBackup& parent, const BackupPoints& points,
                        const std::string& pgdata, uint32_t block_size, bool full_scan) {
  if (full_scan || !parent.manifest) return 0;
  const repo::ManifestHeader& p = parent.manifest->header();
  const char* why = nullptr;
  if (p.timeline != points.timeline)
    why = "the timeline changed";
  else if (p.pgdata != pgdata)
    why = "it was taken from another data directory";
  else if (p.block_size != block_size)
    why = "it used another block size";
  else if (p.start_time_unix_micros > points.start_time)
    why = "the clock went back since it started";
  if (why) {
    log::Info("reading every file: {} since the parent backup '{}'", why, parent.id);
    return 0;
  }
  return p.start_time_unix_micros / 1000000 - 1;
}

}  // namespace

Status CheckOptions(repo::Repository& repo, const BackupOptions& options) {
  if (options.pgdata.empty())
    return std::move(Status::Config("no data directory given"))
        .WithHint("pass --pgdata DIR or set PGVAULT_PGDATA");
  PGV_RETURN_IF_ERROR(CheckIsPgdata(options.pgdata));
  if (options.retain_until_unix > 0 && !repo.config().params.object_lock)
    return std::
        move(Status::Config(fmt::format(
                 "repository '{}' was not created with object lock, so backups cannot be retained",
                 repo.Describe())))
            .WithHint(
                "create the repository with repo-create --object-lock on an Object Lock bucket");
  // Said before any backup, not only when one joins the locked tier.
  for (retention::Tier t : retention::kTiers)
    if (options.tiers.policy.lock[static_cast<int>(t)] && !repo.config().params.object_lock)
      return std::move(Status::Config(fmt::format(
                           "--retention-{}-lock is set, but repository '{}' was not created with "
                           "object lock",
                           retention::TierName(t), repo.Describe())))
          .WithHint(
              "create the repository with repo-create --object-lock on an Object Lock bucket, or "
              "turn the lock off");
  return Status::Ok();
}

Status CheckServer(repo::Repository& repo, const pg::ServerInfo& server, const std::string& pgdata,
                   const pg::ConnOptions& conn) {
  if (server.version < 150000)
    return Status::Pg(
        fmt::format("PostgreSQL {} is not supported; pgvault needs 15 or later", server.version));
  auto server_dir = RealPath(server.data_directory);
  if (!server_dir.ok() || *server_dir != pgdata)
    return std::move(Status::InvalidArgument(
                         fmt::format("the server at '{}' runs data directory '{}', not '{}'",
                                     conn.Describe(), server.data_directory, pgdata)))
        .WithHint("point --pgdata and --pg-port/--pg-host at the same cluster");
  if (server.in_recovery)
    return Status::Pg("backup from a standby is not supported yet; run it on the primary");
  if (server.archive_mode == "off")
    return std::move(Status::Pg(fmt::format("archive_mode is off on '{}'", conn.Describe())))
        .WithHint(pg::ArchivingHint(repo.Describe()));
  return repo.CheckCluster(server.system_id, server.major(), server.wal_segment_size);
}

Result<ParentBackup> ChooseParent(repo::Repository& repo, const std::string& backup_id) {
  PGV_ASSIGN_OR_RETURN(auto backups, repo.ListBackups());
  std::erase_if(backups, [&](const std::string& id) { return id >= backup_id; });
  ParentBackup parent;
  for (auto it = backups.rbegin(); it != backups.rend() && !parent.manifest; ++it) {
    auto opened = repo.OpenManifest(*it);
    if (opened.ok()) {
      parent.manifest = std::move(opened).value();
      parent.id = *it;
    } else if (opened.status().code() == Code::kCorruption) {
      log::Warn("backup '{}' is damaged ({}); it is not used as the parent", *it,
                opened.status().message());
    } else if (opened.status().IsNotFound()) {
      log::Info("backup '{}' was expired since it was listed; it is not used as the parent", *it);
    } else {
      return opened.status();
    }
  }
  return parent;
}

Result<BackupPoints> StartBackup(pg::PgSession& session, const std::string& backup_id) {
  BackupPoints points;
  points.start_time = NowUnixMicros();
  PGV_ASSIGN_OR_RETURN(points.start_lsn_text, session.Scalar("SELECT pg_backup_start($1, true)",
                                                             {"pgvault " + backup_id}));
  PGV_ASSIGN_OR_RETURN(std::string timeline_text,
                       session.Scalar("SELECT timeline_id FROM pg_control_checkpoint()"));
  points.timeline = static_cast<uint32_t>(std::atoi(timeline_text.c_str()));
  log::Info("backup {} started at {} on timeline {}", backup_id, points.start_lsn_text,
            points.timeline);
  return points;
}

Status StopBackup(pg::PgSession& session, uint64_t segment_size, BackupPoints& points) {
  PGV_ASSIGN_OR_RETURN(
      auto stop_rows,
      session.Query("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)"));
  if (stop_rows.empty() || !stop_rows[0][0] || !stop_rows[0][1])
    return Status::Pg("pg_backup_stop returned no result");
  points.stop_lsn_text = *stop_rows[0][0];
  points.backup_label = *stop_rows[0][1];
  points.tablespace_map = stop_rows[0][2].value_or("");
  points.stop_time = NowUnixMicros();
  PGV_ASSIGN_OR_RETURN(points.stop_wal, session.Scalar("SELECT pg_walfile_name($1::pg_lsn)",
                                                       {points.stop_lsn_text}));
  auto start_lsn = pg::ParseLsn(points.start_lsn_text),
       stop_lsn = pg::ParseLsn(points.stop_lsn_text);
  if (!start_lsn || !stop_lsn)
    return Status::Pg(fmt::format("the server returned odd LSNs '{}' and '{}'",
                                  points.start_lsn_text, points.stop_lsn_text));
  points.start_lsn = *start_lsn;
  points.stop_lsn = *stop_lsn;
  points.start_wal = pg::SegmentName(points.timeline, *start_lsn, segment_size);
  return Status::Ok();
}

Status ExtendRetention(repo::Repository& repo, const std::set<repo::PackId>& packs,
                       const BackupPoints& points, uint64_t segment_size, int64_t until) {
  for (const auto& pack : packs)
    PGV_RETURN_IF_ERROR(repo::ForPackOrWhereItMoved(
        repo.storage(), repo.codec(), pack,
        [&](const std::string& key) { return repo.storage().ExtendRetention(key, until); }));
  uint32_t tl;
  uint64_t seg_first, seg_last;
  if (pg::ParseSegmentName(points.start_wal, tl, seg_first, segment_size) &&
      pg::ParseSegmentName(points.stop_wal, tl, seg_last, segment_size))
    for (uint64_t segno = seg_first; segno <= seg_last; ++segno)
      PGV_RETURN_IF_ERROR(repo.storage().ExtendRetention(
          *repo::WalKey(pg::SegmentName(tl, segno * segment_size, segment_size)), until));
  return Status::Ok();
}

repo::ManifestHeader MakeHeader(const repo::RepoParams& params, const HeaderParts& parts) {
  const BackupPoints& points = parts.points;
  repo::ManifestHeader header{
      .backup_id = parts.backup_id,
      .type = "full",
      .parent =
          parts.parent_id.empty() ? std::nullopt : std::optional<std::string>(parts.parent_id),
      .pgvault_version = PGVAULT_VERSION,
      .pg_version = parts.server.version,
      .system_identifier = parts.server.system_identifier,
      .timeline = points.timeline,
      .start_lsn = points.start_lsn,
      .stop_lsn = points.stop_lsn,
      .start_wal = points.start_wal,
      .stop_wal = points.stop_wal,
      .wal_segment_size = parts.server.wal_segment_size,
      .start_time = FormatIsoMicros(points.start_time),
      .stop_time = FormatIsoMicros(points.stop_time),
      .start_time_unix_micros = points.start_time,
      .stop_time_unix_micros = points.stop_time,
      .block_size = params.block_size,
      .compression = std::string(pipeline::CompressionName(params.compression)),
      .cipher = params.encrypted ? "aes-256-gcm" : "none",
      .pgdata = parts.pgdata,
      .backup_label = points.backup_label,
      .tablespace_map = points.tablespace_map,
      .stats = MakeStats(parts.walk, parts.totals, parts.duration_seconds),
  };
  for (const auto& ts : parts.walk.tablespaces)
    header.tablespaces.push_back({.oid = ts.oid, .location = ts.location});
  if (parts.retain_until_unix > 0) {
    header.retain_until = FormatIsoMicros(parts.retain_until_unix * 1000000);
    header.retain_until_unix = parts.retain_until_unix;
  }
  return header;
}

Result<BackupResult> RunBackup(repo::Repository& repo, const BackupOptions& options,
                               Progress& progress) {
  PGV_RETURN_IF_ERROR(CheckOptions(repo, options));
  PGV_ASSIGN_OR_RETURN(std::string pgdata, RealPath(options.pgdata));
  PGV_ASSIGN_OR_RETURN(auto session, pg::PgSession::Connect(options.conn));
  PGV_ASSIGN_OR_RETURN(pg::ServerInfo server, pg::ProbeServer(*session));
  PGV_RETURN_IF_ERROR(CheckServer(repo, server, pgdata, options.conn));

  // Claims a unique id before any work; the lock keeps expire away from the packs this backup
  // reuses and is released (only if it is still ours) when this function returns.
  PGV_ASSIGN_OR_RETURN(repo::BackupLock lock, repo::LockBackup(repo.storage()));
  const std::string backup_id = lock.backup_id();
  WarnAboutOtherBackups(repo.storage(), backup_id);
  PGV_ASSIGN_OR_RETURN(ParentBackup parent, ChooseParent(repo, backup_id));

  double t_start = MonotonicSeconds();
  PGV_ASSIGN_OR_RETURN(BackupPoints points, StartBackup(*session, backup_id));
  PageErrors page_errors;
  std::atomic<uint64_t> pages_checked{0};
  PGV_ASSIGN_OR_RETURN(std::optional<PageCheckConfig> page_check,
                       PageCheckFor(*session, options.checksum_page, server,
                                    pg::ParseLsn(points.start_lsn_text).value_or(UINT64_MAX),
                                    page_errors, pages_checked));
  PGV_ASSIGN_OR_RETURN(WalkResult walk, WalkPgdata(pgdata));
  // The tiers are known from the start time: they decide where the new objects go.
  PGV_ASSIGN_OR_RETURN(retention::Stamp stamp,
                       retention::StampAt(repo, options.tiers, points.start_time, backup_id));
  retention::Placement placement = retention::PlacementFor(
      options.tiers.now_micros ? options.tiers.now_micros : points.start_time, stamp.tiers,
      options.tiers.policy);
  const int64_t retain = std::max(options.retain_until_unix, placement.lock_until_unix);
  repo::ManifestWriter manifest = repo.NewManifestWriter(backup_id);
  manifest.set_put_options({.lock_until_unix = retain, .storage_class = placement.storage_class});
  std::atomic<uint64_t> done_bytes{0};
  CopyTotals totals;
  Status copied =
      CopyFiles(repo, walk.entries, parent.manifest.get(), manifest,
                {.jobs = options.jobs,
                 .lock_until_unix = retain,
                 .unchanged_before = UnchangedBefore(
                     parent, points, pgdata, repo.config().params.block_size, options.full_scan),
                 .storage_class = placement.storage_class,
                 .on_read = [&](uint64_t n) { progress.Update(done_bytes += n, walk.total_bytes); },
                 .page_check = page_check ? &*page_check : nullptr,
                 .direct_io = options.direct_io},
                totals);
  progress.Finish();
  PGV_RETURN_IF_ERROR(copied);

  PGV_RETURN_IF_ERROR(StopBackup(*session, server.wal_segment_size, points));
  log::Info("backup {} stopped at {}; waiting for WAL segment {}", backup_id, points.stop_lsn_text,
            points.stop_wal);
  PGV_RETURN_IF_ERROR(WaitForWal(repo, points.stop_wal, options.archive_timeout_seconds));
  if (retain > 0)
    PGV_RETURN_IF_ERROR(
        ExtendRetention(repo, totals.referenced_packs, points, server.wal_segment_size, retain));
  repo::ManifestHeader header =
      MakeHeader(repo.config().params, {.backup_id = backup_id,
                                        .parent_id = parent.id,
                                        .pgdata = pgdata,
                                        .server = server,
                                        .points = points,
                                        .walk = walk,
                                        .totals = totals,
                                        .duration_seconds = MonotonicSeconds() - t_start,
                                        .retain_until_unix = retain});
  header.stats.pages_checked = pages_checked.load();
  header.stats.pages_failed = page_errors.failed();
  header.data_checksums = server.data_checksums;
  header.page_checksum_errors = page_errors.Finish();
  retention::StampTiers(options.tiers, stamp, header);
  PGV_RETURN_IF_ERROR(manifest.Finish(header));
  PGV_RETURN_IF_ERROR(lock.Release());
  return BackupResult{backup_id, header, placement, totals.counters.bytes_read_direct.load()};
}

namespace {
std::string Mb(double bytes) { return fmt::format("{:.1f} MB", bytes / 1e6); }
}  // namespace

std::string SummaryLine(const BackupResult& r) {
  const repo::BackupStats& s = r.header.stats;
  double read = s.bytes_read, raw_new = s.bytes_new_raw, stored = s.bytes_new,
         secs = s.duration_seconds, logical = read + s.bytes_unchanged;
  std::string unchanged =
      s.files_unchanged > 0
          ? fmt::format(" ({} unchanged, {} not read)", s.files_unchanged, Mb(s.bytes_unchanged))
          : "";
  return fmt::format(
      "backup {} complete: {} files{}, {} read, {} stored, dedup {:.1f}x, compression {:.1f}x, "
      "{:.1f} MB/s, {:.1f} s",
      r.backup_id, s.files, unchanged, Mb(read), Mb(stored), raw_new > 0 ? logical / raw_new : 0.0,
      stored > 0 ? raw_new / stored : 0.0, secs > 0 ? logical / 1e6 / secs : 0.0, secs);
}

std::string PlacementLine(const BackupResult& r, const std::string& default_class) {
  const retention::Placement& p = r.placement;
  std::string klass =
      !p.storage_class.empty()
          ? fmt::format("storage class {} (tier {})", p.storage_class,
                        retention::TierName(*p.class_tier))
          : fmt::format("the repository's storage class ({})",
                        default_class.empty() ? "the store's default" : default_class);
  std::string lock = "not locked";
  if (r.header.retain_until_unix > 0)
    lock = fmt::format("locked (COMPLIANCE) until {} ({})", r.header.retain_until,
                       r.header.retain_until_unix == p.lock_until_unix
                           ? fmt::format("tier {}", retention::TierName(*p.lock_tier))
                           : std::string("--retain-days"));
  return fmt::format("backup {} stored its new objects with {}, {}", r.backup_id, klass, lock);
}

std::string StatsLine(const BackupResult& r) {
  const repo::BackupStats& s = r.header.stats;
  const repo::CpuSeconds& c = s.cpu_seconds;
  // The whole process, all threads, as a shared machine bills it: the stages above plus the
  // walk, the manifest, libpq and everything between.
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  double user = seconds(usage.ru_utime), system = seconds(usage.ru_stime);
  double gb = (s.bytes_read + s.bytes_unchanged) / 1e9;
  return fmt::format(
      "cpu seconds: read {:.2f}, hash {:.2f}, compress {:.2f}, encrypt {:.2f}, write {:.2f}\n"
      "cpu per GB: {:.2f} s ({:.2f} s user + {:.2f} s system for {:.2f} GB of data; {:.2f} GB "
      "read around the page cache)",
      c.read, c.hash, c.compress, c.encrypt, c.write, gb > 0 ? (user + system) / gb : 0.0, user,
      system, gb, r.bytes_read_direct / 1e9);
}

}  // namespace pgvault::backup

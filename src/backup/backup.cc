#include "backup/backup.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "backup/file_jobs.h"
#include "backup/file_worker.h"
#include "backup/pgdata_walk.h"
#include "common/file.h"
#include "common/log.h"
#include "common/time.h"
#include "common/work_queue.h"
#include "common/work_unit.h"
#include "pg/wal_names.h"
#include "repo/backup_lock.h"
#include "repo/backup_objects.h"
#include "repo/layout.h"
#include "repo/manifest.h"
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

repo::FileEntry EntryFor(const WalkEntry& we) {
  return repo::FileEntry{.type = we.type,
                         .path = we.path,
                         .mode = we.mode,
                         .size = 0,
                         .mtime = we.mtime,
                         .link_target = we.link_target};
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

}  // namespace

Result<BackupResult> RunBackup(repo::Repository& repo, const BackupOptions& options,
                               Progress& progress) {
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
  PGV_ASSIGN_OR_RETURN(std::string pgdata, RealPath(options.pgdata));
  PGV_ASSIGN_OR_RETURN(auto session, pg::PgSession::Connect(options.conn));

  PGV_ASSIGN_OR_RETURN(std::string version_num, session->Scalar("SHOW server_version_num"));
  int version = std::atoi(version_num.c_str());
  if (version < 150000)
    return Status::Pg(
        fmt::format("PostgreSQL {} is not supported; pgvault needs 15 or later", version));
  PGV_ASSIGN_OR_RETURN(std::string data_dir, session->Scalar("SHOW data_directory"));
  auto server_dir = RealPath(data_dir);
  if (!server_dir.ok() || *server_dir != pgdata)
    return std::move(Status::InvalidArgument(
                         fmt::format("the server at '{}' runs data directory '{}', not '{}'",
                                     options.conn.Describe(), data_dir, pgdata)))
        .WithHint("point --pgdata and --pg-port/--pg-host at the same cluster");
  PGV_ASSIGN_OR_RETURN(std::string in_recovery, session->Scalar("SELECT pg_is_in_recovery()"));
  if (in_recovery == "t")
    return Status::Pg("backup from a standby is not supported yet; run it on the primary");
  PGV_ASSIGN_OR_RETURN(std::string archive_mode, session->Scalar("SHOW archive_mode"));
  if (archive_mode == "off")
    return std::move(
               Status::Pg(fmt::format("archive_mode is off on '{}'", options.conn.Describe())))
        .WithHint(fmt::format("set archive_mode = on and archive_command = 'pgvault --repo {} "
                              "archive-push %p', then restart PostgreSQL",
                              repo.Describe()));
  PGV_ASSIGN_OR_RETURN(std::string sysid_text,
                       session->Scalar("SELECT system_identifier FROM pg_control_system()"));
  uint64_t sysid = std::strtoull(sysid_text.c_str(), nullptr, 10);
  PGV_ASSIGN_OR_RETURN(
      std::string seg_size_text,
      session->Scalar("SELECT pg_size_bytes(current_setting('wal_segment_size'))"));
  uint64_t segment_size = std::strtoull(seg_size_text.c_str(), nullptr, 10);
  if (segment_size < (1u << 20) || (segment_size & (segment_size - 1)) != 0)
    return Status::Pg(
        fmt::format("the server reports an odd wal_segment_size '{}'", seg_size_text));
  PGV_RETURN_IF_ERROR(repo.CheckCluster(sysid, version / 10000));

  // Claims a unique id before any work; the lock keeps expire away from the packs this backup
  // reuses and is released (only if it is still ours) when this function returns.
  PGV_ASSIGN_OR_RETURN(repo::BackupLock lock, repo::LockBackup(repo.storage()));
  const std::string backup_id = lock.backup_id();
  WarnAboutOtherBackups(repo.storage(), backup_id);
  PGV_ASSIGN_OR_RETURN(auto backups, repo::ListBackups(repo.storage()));
  // A backup that runs alongside this one may finish first with a later id: not a parent.
  std::erase_if(backups, [&](const std::string& id) { return id >= backup_id; });
  // The parent is the newest intact backup: a damaged one (info lists it) is passed over, so one
  // bad manifest does not stop every later backup.
  std::unique_ptr<repo::ManifestReader> parent;
  std::string parent_id;
  for (auto it = backups.rbegin(); it != backups.rend() && !parent; ++it) {
    auto opened = repo::ManifestReader::Open(repo.storage(), repo.codec(), *it);
    if (opened.ok()) {
      parent = std::move(opened).value();
      parent_id = *it;
    } else if (opened.status().code() == Code::kCorruption) {
      log::Warn("backup '{}' is damaged ({}); it is not used as the parent", *it,
                opened.status().message());
    } else {
      return opened.status();
    }
  }

  int64_t start_time = NowUnixMicros();
  double t_start = MonotonicSeconds();
  PGV_ASSIGN_OR_RETURN(std::string start_lsn, session->Scalar("SELECT pg_backup_start($1, true)",
                                                              {"pgvault " + backup_id}));
  PGV_ASSIGN_OR_RETURN(std::string timeline_text,
                       session->Scalar("SELECT timeline_id FROM pg_control_checkpoint()"));
  uint32_t timeline = static_cast<uint32_t>(std::atoi(timeline_text.c_str()));
  log::Info("backup {} started at {} on timeline {}", backup_id, start_lsn, timeline);

  PGV_ASSIGN_OR_RETURN(WalkResult walk, WalkPgdata(pgdata));
  uint32_t block_size = repo.config().params.block_size;
  repo::ManifestWriter manifest(repo.storage(), repo.codec(), backup_id);
  JobSource jobs(walk.entries, parent.get(), block_size,
                 std::max<uint64_t>(1, kWorkUnitBytes / block_size));
  // Up to 4096 results, and 64Ki block references (~8 MiB), wait for an earlier one.
  OrderedSink sink(manifest, block_size, 4096, 64 << 10);
  storage::PutOptions lock_options{.lock_until_unix = options.retain_until_unix};
  std::set<repo::PackId> referenced_packs;
  if (options.retain_until_unix > 0) {
    manifest.set_put_options(lock_options);
    sink.CollectPacks(&referenced_packs);
  }
  BlockCounters counters;
  pipeline::StageTimes times;
  std::atomic<uint64_t> done_bytes{0};
  std::mutex stats_mu;
  repo::PackStats pack_totals;

  // Delta blocks are zstd frames: only repositories that compress with zstd make them.
  int delta_level = repo.config().params.compression == pipeline::Compression::kZstd
                        ? repo.config().params.compression_level
                        : 0;
  auto worker = [&](std::stop_token stop) {
    pipeline::Hmac hmac(repo.id_key());
    repo::PackWriter packs(repo.storage(), repo.codec(), repo.config().params.pack_size, &times);
    packs.set_put_options(lock_options);
    repo::BlockReader reader(repo.storage(), repo.codec(), repo.id_key());
    backup::WorkerContext ctx{
        .block_size = block_size,
        .delta_level = delta_level,
        .hmac = hmac,
        .packs = packs,
        .reader = reader,
        .counters = counters,
        .times = times,
        .on_read = [&](uint64_t n) { progress.Update(done_bytes += n, walk.total_bytes); }};
    size_t seq;
    FileJob job;
    Status status;
    while (!stop.stop_requested() && jobs.Next(seq, job, status)) {
      if (!status.ok()) break;
      std::optional<repo::FileEntry> entry;
      if (job.entry->type == repo::EntryType::kFile) {
        auto r = BackupFile(job, ctx);
        if (!r.ok()) {
          status = r.status().Context(fmt::format("backing up '{}'", job.entry->path));
          break;
        }
        entry = std::move(r).value();
      } else {
        entry = EntryFor(*job.entry);
      }
      status = sink.Put(seq, job, std::move(entry));
      if (!status.ok()) break;
    }
    if (status.ok()) status = packs.Flush();
    std::lock_guard lock(stats_mu);
    pack_totals.packs_written += packs.stats().packs_written;
    pack_totals.bytes_written += packs.stats().bytes_written;
    pack_totals.raw_bytes_written += packs.stats().raw_bytes_written;
    return status;
  };
  // The first error stops the others; the sink releases the workers waiting in Put.
  Status copied =
      RunWorkers(std::max(1, options.jobs), worker, [&](const Status& why) { sink.Fail(why); });
  progress.Finish();
  PGV_RETURN_IF_ERROR(copied);
  PGV_RETURN_IF_ERROR(sink.status());

  PGV_ASSIGN_OR_RETURN(
      auto stop_rows,
      session->Query("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)"));
  if (stop_rows.empty() || !stop_rows[0][0] || !stop_rows[0][1])
    return Status::Pg("pg_backup_stop returned no result");
  std::string stop_lsn = *stop_rows[0][0];
  std::string label = *stop_rows[0][1];
  std::string spcmap = stop_rows[0][2].value_or("");
  int64_t stop_time = NowUnixMicros();
  PGV_ASSIGN_OR_RETURN(std::string stop_wal,
                       session->Scalar("SELECT pg_walfile_name($1::pg_lsn)", {stop_lsn}));
  auto start_lsn_value = pg::ParseLsn(start_lsn), stop_lsn_value = pg::ParseLsn(stop_lsn);
  if (!start_lsn_value || !stop_lsn_value)
    return Status::Pg(
        fmt::format("the server returned odd LSNs '{}' and '{}'", start_lsn, stop_lsn));
  std::string start_wal = pg::SegmentName(timeline, *start_lsn_value, segment_size);
  log::Info("backup {} stopped at {}; waiting for WAL segment {}", backup_id, stop_lsn, stop_wal);
  PGV_RETURN_IF_ERROR(WaitForWal(repo, stop_wal, options.archive_timeout_seconds));

  if (options.retain_until_unix > 0) {
    // Reused packs and the WAL this backup needs get the same retention before the manifest
    // makes the backup visible; retention only ever grows.
    for (const auto& pack : referenced_packs)
      PGV_RETURN_IF_ERROR(
          repo.storage().ExtendRetention(repo::PackKey(pack), options.retain_until_unix));
    uint32_t tl;
    uint64_t seg_first, seg_last;
    if (pg::ParseSegmentName(start_wal, tl, seg_first, segment_size) &&
        pg::ParseSegmentName(stop_wal, tl, seg_last, segment_size))
      for (uint64_t segno = seg_first; segno <= seg_last; ++segno)
        PGV_RETURN_IF_ERROR(repo.storage().ExtendRetention(
            *repo::WalKey(pg::SegmentName(tl, segno * segment_size, segment_size)),
            options.retain_until_unix));
  }
  double elapsed = MonotonicSeconds() - t_start;
  uint64_t stored_new = pack_totals.bytes_written;
  repo::BackupStats stats{
      .bytes_read = counters.bytes_read.load(),
      .blocks = counters.blocks.load(),
      .zero_blocks = counters.zero_blocks.load(),
      .reused_blocks = counters.reused_blocks.load(),
      .new_blocks = counters.new_blocks.load(),
      .delta_blocks = counters.delta_blocks.load(),
      .bytes_new_raw = pack_totals.raw_bytes_written,
      .bytes_new = stored_new,
      .packs_written = pack_totals.packs_written,
      .files_vanished = counters.files_vanished.load(),
      .duration_seconds = elapsed,
      .cpu_seconds = {.read = times.read_ns / 1e9,
                      .hash = times.hash_ns / 1e9,
                      .compress = times.compress_ns / 1e9,
                      .encrypt = times.encrypt_ns / 1e9,
                      .write = times.write_ns / 1e9},
  };
  size_t files = 0;
  for (const auto& e : walk.entries) files += e.type == repo::EntryType::kFile;
  stats.files = files - counters.files_vanished;
  repo::ManifestHeader header{
      .backup_id = backup_id,
      .type = "full",
      .parent = parent_id.empty() ? std::nullopt : std::optional<std::string>(parent_id),
      .pgvault_version = PGVAULT_VERSION,
      .pg_version = version,
      .system_identifier = sysid_text,
      .timeline = timeline,
      .start_lsn = *start_lsn_value,
      .stop_lsn = *stop_lsn_value,
      .start_wal = start_wal,
      .stop_wal = stop_wal,
      .wal_segment_size = segment_size,
      .start_time = FormatIsoMicros(start_time),
      .stop_time = FormatIsoMicros(stop_time),
      .start_time_unix_micros = start_time,
      .stop_time_unix_micros = stop_time,
      .block_size = block_size,
      .compression = std::string(pipeline::CompressionName(repo.config().params.compression)),
      .cipher = repo.config().params.encrypted ? "aes-256-gcm" : "none",
      .pgdata = pgdata,
      .backup_label = label,
      .tablespace_map = spcmap,
      .stats = stats,
  };
  for (const auto& ts : walk.tablespaces)
    header.tablespaces.push_back({.oid = ts.oid, .location = ts.location});
  if (options.retain_until_unix > 0) {
    header.retain_until = FormatIsoMicros(options.retain_until_unix * 1000000);
    header.retain_until_unix = options.retain_until_unix;
  }
  PGV_RETURN_IF_ERROR(retention::StampTiers(repo, options.tiers, header));
  PGV_RETURN_IF_ERROR(manifest.Finish(header));
  PGV_RETURN_IF_ERROR(lock.Release());
  return BackupResult{backup_id, header};
}

namespace {
std::string Mb(double bytes) { return fmt::format("{:.1f} MB", bytes / 1e6); }
}  // namespace

std::string SummaryLine(const BackupResult& r) {
  const repo::BackupStats& s = r.header.stats;
  double read = s.bytes_read, raw_new = s.bytes_new_raw, stored = s.bytes_new,
         secs = s.duration_seconds;
  return fmt::format(
      "backup {} complete: {} files, {} read, {} stored, dedup {:.1f}x, compression {:.1f}x, "
      "{:.1f} MB/s, {:.1f} s",
      r.backup_id, s.files, Mb(read), Mb(stored), raw_new > 0 ? read / raw_new : 0.0,
      stored > 0 ? raw_new / stored : 0.0, secs > 0 ? read / 1e6 / secs : 0.0, secs);
}

std::string StatsLine(const BackupResult& r) {
  const repo::CpuSeconds& c = r.header.stats.cpu_seconds;
  return fmt::format(
      "cpu seconds: read {:.2f}, hash {:.2f}, compress {:.2f}, encrypt {:.2f}, write {:.2f}",
      c.read, c.hash, c.compress, c.encrypt, c.write);
}

}  // namespace pgvault::backup

#include "verify/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>

#include "common/time.h"
#include "common/work_queue.h"
#include "common/work_unit.h"
#include "pg/page_checksum.h"
#include "pg/wal_names.h"
#include "repo/block_reader.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/wal_ranges.h"
#include "repo/wal_store.h"
#include "verify/objects.h"

namespace pgvault::verify {
namespace {

constexpr size_t kMaxProblemsPerBackup = 20;

// The WAL from the backup's start to its end: without it the copy never becomes consistent.
// The archive's WAL listed once for all backups (per segment size, which a cluster never
// changes).
class WalIndexCache {
 public:
  explicit WalIndexCache(repo::Repository& repo) : repo_(repo) {}
  Result<const repo::WalIndex*> Get(uint64_t segment_size) {
    auto it = indexes_.find(segment_size);
    if (it == indexes_.end()) {
      PGV_ASSIGN_OR_RETURN(auto index, repo::WalIndex::Load(repo_, segment_size));
      it = indexes_.emplace(segment_size, std::move(index)).first;
    }
    return &it->second;
  }

 private:
  repo::Repository& repo_;
  std::map<uint64_t, repo::WalIndex> indexes_;
};

void CheckBackupWal(WalIndexCache& wal, const repo::ManifestHeader& header, BackupResult& result) {
  uint64_t segment_size = header.wal_segment_size;
  uint32_t tli = header.timeline;
  auto index = wal.Get(segment_size);
  if (!index.ok()) {
    result.problems.push_back(fmt::format("cannot list WAL: {}", index.status().message()));
    return;
  }
  for (uint64_t segno = header.start_lsn / segment_size; segno <= header.stop_lsn / segment_size;
       ++segno)
    if (!(*index)->Segments(tli).count(segno))
      result.problems.push_back(fmt::format(
          "WAL segment '{}' needed to make the backup consistent is missing from the repository",
          (*index)->Name(tli, segno)));
}

// verify --sample: which blocks are read, each with the given probability.
class BlockSampler {
 public:
  explicit BlockSampler(double percent) : percent_(percent), rng_(std::random_device{}()) {}
  bool all() const { return percent_ >= 100; }
  bool Take() { return std::uniform_real_distribution<double>(0, 100)(rng_) < percent_; }

 private:
  double percent_;
  std::mt19937_64 rng_;
};

struct Counts {
  std::atomic<uint64_t> files{0}, blocks{0}, bytes{0}, pages{0};
};

// The data pages of one restored block of a relation file, checked as backup checks them (a
// backup of a cluster with data checksums; pages at or past the backup's start LSN are left to
// WAL replay). PostgreSQL's default 8 KiB pages; a repository block smaller than a page is not
// checked. The first mismatch is returned as a problem.
Status CheckBlockPages(const repo::ManifestHeader& header, const std::string& path, size_t idx,
                       ByteView plain, Counts& counts) {
  constexpr uint32_t kPage = pg::kDefaultPageSize;
  if (header.block_size % kPage != 0) return Status::Ok();
  const uint64_t pages_per_segment = pg::kDefaultSegmentBytes / kPage;
  const uint64_t first_page =
      pg::RelationSegment(path) * pages_per_segment + uint64_t{idx} * (header.block_size / kPage);
  uint64_t checked = 0;
  Status status;
  for (size_t pos = 0; pos + kPage <= plain.size() && status.ok(); pos += kPage) {
    uint32_t block = static_cast<uint32_t>(first_page + pos / kPage);
    pg::PageCheck check = pg::CheckPage(plain.data() + pos, kPage, block, header.start_lsn);
    if (check.verdict == pg::PageVerdict::kOk) checked++;
    if (check.verdict == pg::PageVerdict::kMismatch)
      status = Status::Corruption(
          fmt::format("page checksum mismatch in block {}: stored {}, computed {}", block,
                      check.stored, check.computed));
  }
  counts.pages += checked;
  return status;
}

// Reads every block of one file back, as restore does, and hashes it again (BlockReader with
// IdCheck::kAlways); relation files' pages are checked too when the cluster had checksums.
// With --sample, each block is read with the sampler's probability.
Status VerifyFileBlocks(const repo::ManifestHeader& header, const repo::FileEntry& e,
                        repo::BlockReader& blocks_reader, Counts& counts, BlockSampler& sampler) {
  const uint32_t block_size = header.block_size;
  const bool pages = header.data_checksums && pg::HasPageChecksums(e.path);
  const size_t slice = sampler.all() ? std::max<size_t>(1, kWorkUnitBytes / block_size) : 1;
  for (size_t first = 0; first < e.blocks.size(); first += slice) {
    if (!sampler.all() && !sampler.Take()) continue;
    PGV_RETURN_IF_ERROR(blocks_reader.Read(e.blocks, first, slice, [&](size_t idx, Bytes& plain) {
      uint64_t want = std::min<uint64_t>(block_size, e.size - idx * uint64_t{block_size});
      if (plain.size() != want)
        return Status::Corruption(
            fmt::format("block {} has {} bytes, expected {}", idx, plain.size(), want));
      counts.blocks++;
      counts.bytes += plain.size();
      return pages ? CheckBlockPages(header, e.path, idx, plain, counts) : Status::Ok();
    }));
  }
  return Status::Ok();
}

// Reads every block (or a sample) of one backup with `jobs` workers sharing the manifest reader.
BackupResult VerifyBackup(repo::Repository& repo, WalIndexCache& wal, PackTable& packs,
                          const std::string& backup_id, const VerifyOptions& options) {
  const int jobs = options.jobs;
  BackupResult result{.backup_id = backup_id};
  std::mutex mu;
  auto problem = [&](std::string line) {
    std::lock_guard lock(mu);
    if (result.problems.size() < kMaxProblemsPerBackup) result.problems.push_back(std::move(line));
  };
  auto reader = repo.OpenManifest(backup_id);
  if (!reader.ok()) {
    problem(fmt::format("manifest: {}", reader.status().message()));
    return result;
  }
  CheckBackupWal(wal, (*reader)->header(), result);
  const repo::ManifestHeader& header = (*reader)->header();
  uint32_t block_size = header.block_size;
  Counts counts;
  // Problems are collected, not returned: every worker runs to the end of the manifest. Unless
  // the repository fails a read for good (kUnavailable, after the driver's retries): then what
  // is left cannot be judged, and reading on would cost every file those retries again.
  bool stop = false;  // guarded by mu
  auto worker = [&](const std::stop_token&) {
    repo::BlockReader blocks_reader = repo.NewBlockReader(repo::IdCheck::kAlways);
    BlockSampler sampler(options.sample_percent);
    repo::FileEntry e;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stop || !(*reader)->Next(e)) return Status::Ok();
      }
      // What restore refuses to write, and references its pack's index does not hold.
      if (Status safe = repo::CheckEntrySafe(e, header); !safe.ok()) {
        problem(safe.message());
        continue;
      }
      for (const repo::BlockRef& b : e.blocks) {
        if (b.zero) continue;
        auto missing = packs.Mark(b.loc, b.id);
        if (!missing && b.delta) missing = packs.Mark(b.base_loc, b.base_id);
        if (missing) problem(fmt::format("'{}': {}", e.path, *missing));
      }
      if (e.type != repo::EntryType::kFile) continue;
      counts.files++;
      if (repo::FileChecksum(e.blocks) != e.checksum) {
        problem(fmt::format("'{}': its manifest entry fails its checksum", e.path));
        continue;
      }
      if (e.blocks.size() != (e.size + block_size - 1) / block_size) {
        problem(fmt::format("'{}': its manifest entry has the wrong number of blocks", e.path));
        continue;
      }
      Status s = VerifyFileBlocks(header, e, blocks_reader, counts, sampler);
      if (s.code() == Code::kUnavailable) {
        std::lock_guard lock(mu);
        if (!stop) result.unavailable = s.Context(fmt::format("reading '{}'", e.path));
        stop = true;
        return Status::Ok();
      }
      if (!s.ok()) problem(fmt::format("'{}': {}", e.path, s.message()));
    }
  };
  (void)RunWorkers(std::max(1, jobs), worker);
  if (!(*reader)->status().ok())
    problem(fmt::format("manifest: {}", (*reader)->status().message()));
  result.files = counts.files;
  result.blocks = counts.blocks;
  result.bytes = counts.bytes;
  result.pages_checked = counts.pages;
  return result;
}

void VerifyWal(repo::Repository& repo, VerifyReport& report) {
  auto wal = repo.ListWal();
  if (!wal.ok()) {
    report.wal_problems.push_back(fmt::format("cannot list WAL: {}", wal.status().message()));
    return;
  }
  for (const auto& w : *wal) {
    std::string key = *repo::WalKey(w.name);
    auto object = repo.GetWalObject(w.name);
    Status s = object.ok() ? repo::VerifyWalObject(repo, key, *object) : object.status();
    if (!s.ok()) {
      report.wal_problems.push_back(fmt::format("'{}': {}", w.name, s.message()));
      continue;
    }
    report.wal_files++;
    report.wal_bytes += object->size();
  }
  uint64_t segment_size = 0;  // from the oldest backup
  auto ranges = repo::DescribeArchive(repo, segment_size);
  if (!ranges.ok()) {
    report.wal_problems.push_back(
        fmt::format("cannot read the archive's timelines: {}", ranges.status().message()));
    return;
  }
  for (const auto& r : *ranges) {
    // A timeline after the first without its history file, beside older timelines: where it
    // branched is lost, and recovery along it cannot find its way from an older backup.
    if (r.tli > 1 && !r.parent && r.history_damage.empty() && r.tli != ranges->front().tli)
      report.wal_problems.push_back(fmt::format(
          "timeline {}: its history file '{:08X}.history' is missing (recovery along timeline {} "
          "cannot start from an older timeline)",
          r.tli, r.tli, r.tli));
    report.wal_missing_segments += r.missing;
    for (const auto& gap : r.gaps)
      report.wal_problems.push_back(fmt::format(
          "timeline {}: WAL missing: {} (point-in-time recovery cannot cross it)", r.tli, gap));
  }
}

}  // namespace

size_t VerifyReport::problem_count() const {
  size_t n = wal_problems.size() + object_problems.size();
  for (const auto& b : backups) n += b.problems.size();
  return n;
}

Result<VerifyReport> Verify(repo::Repository& repo, const VerifyOptions& options) {
  double t0 = MonotonicSeconds();
  int64_t started = NowUnixMicros();
  PGV_ASSIGN_OR_RETURN(auto ids, repo.ListBackups());
  if (!options.backup_id.empty()) {
    if (std::find(ids.begin(), ids.end(), options.backup_id) == ids.end())
      return std::move(Status::NotFound(
                           fmt::format("backup '{}' is not in the repository", options.backup_id)))
          .WithHint("'pgvault info' lists the backups");
    ids = {options.backup_id};
  }
  VerifyReport report{.sample_percent = options.sample_percent, .started_unix_micros = started};
  WalIndexCache wal(repo);
  PGV_ASSIGN_OR_RETURN(PackTable packs, PackTable::List(repo));
  for (const auto& id : ids) {
    report.backups.push_back(VerifyBackup(repo, wal, packs, id, options));
    if (Status& s = report.backups.back().unavailable; !s.ok())
      return std::move(s.Context(fmt::format("verify of backup '{}' stopped", id)))
          .WithHint("nothing was recorded; run verify again once the repository answers");
  }
  if (options.backup_id.empty()) {
    // What belongs to no backup can only be told with every backup's references.
    packs.LoadAll();
    PGV_ASSIGN_OR_RETURN(auto manifests, CheckManifestObjects(repo));
    report.object_problems = std::move(manifests.problems);
    report.warnings = std::move(manifests.warnings);
    auto unreferenced = packs.UnreferencedWarnings();
    report.warnings.insert(report.warnings.end(), unreferenced.begin(), unreferenced.end());
  }
  auto small = CheckSmallObjects(repo);
  report.object_problems.insert(report.object_problems.end(), small.begin(), small.end());
  auto damaged_packs = packs.problems();
  report.object_problems.insert(report.object_problems.end(), damaged_packs.begin(),
                                damaged_packs.end());
  if (options.wal) VerifyWal(repo, report);
  report.seconds = MonotonicSeconds() - t0;
  return report;
}

repo::VerifyRecord RecordFor(const VerifyReport& report, const BackupResult& backup) {
  repo::VerifyRecord record{.time = FormatIsoMicros(report.started_unix_micros),
                            .seconds = report.seconds,
                            .checked = {"manifest", "blocks", "pack indexes", "backup wal"},
                            .sample_percent = report.sample_percent,
                            .files = backup.files,
                            .blocks = backup.blocks,
                            .bytes_read = backup.bytes};
  if (report.wal_files > 0 || !report.wal_problems.empty())
    record.checked.emplace_back("wal archive");
  for (const auto* lines : {&backup.problems, &report.object_problems, &report.wal_problems})
    for (const auto& line : *lines) record.problems.push_back(repo::ProblemFromLine(line));
  record.passed = record.problems.empty();
  return record;
}

Status RecordResults(repo::Repository& repo, const VerifyReport& report) {
  for (const auto& b : report.backups) {
    repo::CatalogRecord record{.backup_id = b.backup_id,
                               .kind = repo::RecordKind::kVerify,
                               .time_unix_micros = NowUnixMicros(),
                               .body = repo::VerifyRecordToJson(RecordFor(report, b))};
    PGV_RETURN_IF_ERROR(
        repo::AppendCatalogRecord(repo, record)
            .Context(fmt::format("recording the verify of backup '{}'", b.backup_id)));
  }
  return Status::Ok();
}

std::string FormatText(const VerifyReport& r) {
  std::string out;
  for (const auto& b : r.backups) {
    std::string pages =
        b.pages_checked > 0 ? fmt::format(", {} page checksums", b.pages_checked) : "";
    out += fmt::format("backup {}: {} files, {} blocks, {:.1f} MB{} {}\n", b.backup_id, b.files,
                       b.blocks, b.bytes / 1e6, pages, b.problems.empty() ? "verified" : "DAMAGED");
    for (const auto& p : b.problems) out += "  " + p + "\n";
  }
  out += fmt::format("wal: {} files, {:.1f} MB verified, {} segments missing\n", r.wal_files,
                     r.wal_bytes / 1e6, r.wal_missing_segments);
  for (const auto& p : r.wal_problems) out += "  " + p + "\n";
  if (!r.object_problems.empty()) out += "repository objects: DAMAGED\n";
  for (const auto& p : r.object_problems) out += "  " + p + "\n";
  if (!r.warnings.empty()) out += "warnings:\n";
  for (const auto& w : r.warnings) out += "  " + w + "\n";
  size_t problems = r.problem_count();
  std::string warnings = r.warnings.empty() ? ""
                                            : fmt::format(", {} warning{}", r.warnings.size(),
                                                          r.warnings.size() == 1 ? "" : "s");
  if (problems == 0)
    out += fmt::format("verify: OK ({} backup{}{}, {:.1f} s)", r.backups.size(),
                       r.backups.size() == 1 ? "" : "s", warnings, r.seconds);
  else
    out += fmt::format("verify: {} problems found{} ({:.1f} s)", problems, warnings, r.seconds);
  return out;
}

}  // namespace pgvault::verify

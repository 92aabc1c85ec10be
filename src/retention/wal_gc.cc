#include "retention/wal_gc.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "common/log.h"
#include "pg/wal_names.h"
#include "repo/backup_lock.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "retention/gc.h"

namespace pgvault::retention {

namespace {

// A segment's place: its timeline, and its position (the 16 hex digits after the timeline,
// which sort as the segment number does whatever the segment size).
struct Place {
  uint32_t timeline = 0;
  std::string position;
};

// The place of a segment, .partial or .backup file (its first 24 characters); nullopt for a
// history file or a name that is no WAL file name.
std::optional<Place> PlaceOf(std::string_view name) {
  pg::WalFileKind kind = pg::ClassifyWalFileName(name);
  if (kind != pg::WalFileKind::kSegment && kind != pg::WalFileKind::kPartial &&
      kind != pg::WalFileKind::kBackupHistory)
    return std::nullopt;
  return Place{pg::TimelineOfWalFile(name), std::string(name.substr(8, 16))};
}

bool InRange(const Place& p, const WalRange& range) {
  auto start = PlaceOf(range.start_wal);
  if (!start) return false;
  if (p.timeline < start->timeline || p.position < start->position) return false;
  if (range.stop_wal.empty()) return true;  // unknown end: everything after its start
  auto stop = PlaceOf(range.stop_wal);
  if (!stop) return true;
  return p.timeline <= stop->timeline && p.position <= stop->position;
}

// The segment after the backup's stop segment: recovery to the backup's end reads the record
// that follows it, and pg_backup_stop switched to a new segment. "" when the stop is unknown.
std::string SegmentAfter(const repo::ManifestHeader& h) {
  uint64_t size = h.wal_segment_size ? h.wal_segment_size : pg::kDefaultWalSegmentSize;
  uint32_t timeline;
  uint64_t segno;
  if (!pg::ParseSegmentName(h.stop_wal, timeline, segno, size)) return "";
  return pg::SegmentName(timeline, (segno + 1) * size, size);
}

}  // namespace

bool WalNeeded(const WalNeeds& needs, std::string_view name) {
  auto place = PlaceOf(name);
  if (!place) return true;  // a history file, or not a WAL file: never deleted here
  auto cut = PlaceOf(needs.cut);
  if (!cut) return true;  // no cut: nothing is known to be unneeded
  if (place->position >= cut->position) return true;
  return std::any_of(needs.kept.begin(), needs.kept.end(),
                     [&](const WalRange& r) { return InRange(*place, r); });
}

WalSelection SelectWal(const WalNeeds& needs, const std::vector<storage::ObjectInfo>& wal_objects,
                       const std::vector<storage::ObjectInfo>& stream_objects) {
  WalSelection out;
  std::set<std::string, std::less<>> stored;
  for (const auto& obj : wal_objects) {
    auto name = repo::WalNameFromKey(obj.key);
    if (!name) continue;
    stored.insert(*name);
    if (!WalNeeded(needs, *name)) out.wal.push_back(obj);
  }
  std::sort(out.wal.begin(), out.wal.end(), [](const auto& a, const auto& b) {
    return repo::WalNameFromKey(a.key) < repo::WalNameFromKey(b.key);
  });
  for (const auto& obj : stream_objects) {
    auto part = repo::ParseStreamPartialKey(obj.key);
    if (!part) continue;
    if (stored.count(part->segment) || !WalNeeded(needs, part->segment)) out.stream.push_back(obj);
  }
  return out;
}

Result<WalNeeds> NeedsAfter(repo::Repository& repo, const Plan& plan, std::string* damaged) {
  std::set<std::string> going;
  for (const auto& e : plan.entries)
    if (!e.keep) going.insert(e.id);
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  WalNeeds needs{.cut = plan.wal_continuous_from};
  for (const auto& b : listed) {
    if (going.count(b.id)) continue;
    if (!b.intact()) {
      if (damaged) *damaged = b.id;
      return WalNeeds{};  // its WAL is unknown: keep everything
    }
    needs.kept.push_back({b.id, b.header->start_wal, SegmentAfter(*b.header)});
  }
  return needs;
}

Status RecordWalCut(repo::Repository& repo, const Plan& plan, int64_t now_micros) {
  if (plan.wal_continuous_from.empty() || plan.pitr_from_backup.empty()) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(auto records, repo::ListCatalogRecords(repo, plan.pitr_from_backup));
  auto newest = repo::NewestRecord(records, repo::RecordKind::kWalCut);
  if (newest && newest->body.value("cut", "") == plan.wal_continuous_from) return Status::Ok();
  return repo::AppendCatalogRecord(repo, {.backup_id = plan.pitr_from_backup,
                                          .kind = repo::RecordKind::kWalCut,
                                          .time_unix_micros = now_micros,
                                          .body = {{"cut", plan.wal_continuous_from}}});
}

Result<WalCollection> CollectWal(repo::Repository& repo, const Plan& plan, bool dry_run,
                                 int64_t now_unix) {
  storage::Storage& st = repo.storage();
  // The gc lock keeps a concurrent expire (which deletes manifests) and gc out. A running backup
  // needs WAL from its own start, which lies after every stored backup's start and so after
  // the cut: it does not stop WAL collection.
  std::optional<repo::BackupLock> lock;
  if (!dry_run) {
    PGV_ASSIGN_OR_RETURN(auto held, repo::LockGc(st));
    lock.emplace(std::move(held));
  }
  WalCollection c{.dry_run = dry_run};
  PGV_ASSIGN_OR_RETURN(auto needs, NeedsAfter(repo, plan, &c.skipped_damaged));
  c.cut = needs.cut;
  PGV_ASSIGN_OR_RETURN(auto wal, st.List(repo::kWalPrefix));
  PGV_ASSIGN_OR_RETURN(auto stream, st.List(repo::kStreamPrefix));
  for (const auto& obj : wal) {
    c.files_before++;
    c.bytes_before += obj.size;
  }
  if (!c.skipped_damaged.empty()) {
    log::Warn("backup '{}' is damaged; no WAL was deleted: expire it first", c.skipped_damaged);
    if (lock) PGV_RETURN_IF_ERROR(lock->Release());
    return c;
  }
  if (!dry_run) PGV_RETURN_IF_ERROR(RecordWalCut(repo, plan, now_unix * 1000000));
  WalSelection doomed = SelectWal(needs, wal, stream);
  PackCollection deleted;  // DeleteUnlocked's counts; its "packs" are WAL objects here
  std::set<std::string> locked;
  if (dry_run) {
    for (const auto& obj : doomed.wal) {
      if (st.features().object_lock) {
        PGV_ASSIGN_OR_RETURN(auto info, st.Stat(obj.key));
        if (info.retain_until_unix > now_unix || info.legal_hold) {
          deleted.packs_locked++;
          locked.insert(obj.key);
          if (deleted.locked_examples.size() < 5) deleted.locked_examples.push_back(obj.key);
        }
      }
    }
  } else {
    // Streamed parts first: a part whose segment is stored whole, or one before the cut, is
    // never read again. Then WAL, oldest first; any order is safe (see the header).
    PackCollection parts;
    PGV_RETURN_IF_ERROR(DeleteUnlocked(st, doomed.stream, now_unix, parts));
    c.stream_deleted = parts.packs_deleted;
    c.stream_bytes_deleted = parts.bytes_deleted;
    PGV_RETURN_IF_ERROR(DeleteUnlocked(st, doomed.wal, now_unix, deleted));
    locked.insert(deleted.locked_keys.begin(), deleted.locked_keys.end());
  }
  if (dry_run)
    for (const auto& obj : doomed.stream) {
      c.stream_deleted++;
      c.stream_bytes_deleted += obj.size;
    }
  for (const auto& obj : doomed.wal) {
    if (locked.count(obj.key)) continue;
    std::string name = repo::WalNameFromKey(obj.key).value_or(obj.key);
    if (c.first_deleted.empty()) c.first_deleted = name;
    c.last_deleted = name;
    c.files_deleted++;
    c.bytes_deleted += obj.size;
  }
  c.locked = deleted.packs_locked;
  c.locked_examples = std::move(deleted.locked_examples);
  if (lock) PGV_RETURN_IF_ERROR(lock->Release());
  return c;
}

std::string WalText(const WalCollection& c) {
  std::string verb = c.dry_run ? "would delete" : "deleted";
  std::string out;
  if (!c.skipped_damaged.empty())
    return fmt::format("WAL: nothing deleted while backup {} is damaged (expire it)\n",
                       c.skipped_damaged);
  if (c.files_deleted == 0)
    out = fmt::format("WAL: {} nothing ({} files, {:.1f} MB stored, all needed)\n", verb,
                      c.files_before, c.bytes_before / 1e6);
  else
    out = fmt::format("WAL: {} {} of {} files ({:.1f} of {:.1f} MB), {} .. {}\n", verb,
                      c.files_deleted, c.files_before, c.bytes_deleted / 1e6, c.bytes_before / 1e6,
                      c.first_deleted, c.last_deleted);
  if (c.stream_deleted)
    out += fmt::format("WAL: {} {} streamed parts ({:.1f} MB)\n", verb, c.stream_deleted,
                       c.stream_bytes_deleted / 1e6);
  if (c.locked) {
    out +=
        fmt::format("WAL: kept {} unneeded files because they are locked (object lock)", c.locked);
    for (const auto& e : c.locked_examples) out += fmt::format("\n  kept {}", e);
    out += "\n";
  }
  return out;
}

}  // namespace pgvault::retention

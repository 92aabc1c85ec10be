#include "retention/expire.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/time.h"
#include "repo/backup_lock.h"
#include "repo/backup_objects.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/redirect.h"
#include "retention/gc.h"

namespace pgvault::retention {

namespace {

// kConflict when the manifest object is on legal hold or retained (object-lock storage only).
Status CheckManifestLock(storage::Storage& st, const std::string& backup_id, int64_t now) {
  if (!st.features().object_lock) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(auto info, st.Stat(repo::ManifestKey(backup_id)));
  if (info.legal_hold)
    return std::move(Status::Conflict(
                         fmt::format("backup '{}' is on legal hold; it was kept", backup_id)))
        .WithHint(fmt::format("clear it first with: pgvault hold clear --backup {}", backup_id));
  if (info.retain_until_unix > now)
    return std::move(Status::Conflict(
                         fmt::format("backup '{}' is retained until {} (object lock); it was kept",
                                     backup_id, FormatIsoMicros(info.retain_until_unix * 1000000))))
        .WithHint("a retained backup can only be expired after its retention date");
  return Status::Ok();
}

// The manifest objects of a backup whose manifest cannot be decoded (or is gone while parts are
// left, or an expire was interrupted): whatever is stored under backups/<id>/, the manifest
// first.
Result<std::vector<std::string>> ObjectsUnder(storage::Storage& st, const std::string& backup_id) {
  PGV_ASSIGN_OR_RETURN(auto objects, st.List(repo::BackupPrefix(backup_id)));
  std::vector<std::string> keys;
  std::string manifest = repo::ManifestKey(backup_id);
  for (const auto& obj : objects)
    if (obj.key == manifest)
      keys.insert(keys.begin(), obj.key);
    else
      keys.push_back(obj.key);
  return keys;
}

// Deletes the backup's manifest objects, the manifest itself first: once it is gone the backup
// no longer exists. A damaged backup's parts are found by listing: its header cannot name them.
// An incomplete marker is written before and deleted after, so that a kill in between leaves
// parts that verify reports as an unfinished expire (the next expire --backup finishes it), not
// as a lost manifest.
Status DeleteManifestObjects(repo::Repository& repo, const std::string& backup_id, int64_t now) {
  storage::Storage& st = repo.storage();
  auto header = repo.ReadManifestHeader(backup_id);
  std::vector<std::string> keys;
  if (header.ok()) {
    int64_t retain_until = header->retain_until_unix;
    if (retain_until > now)
      return std::move(Status::Conflict(fmt::format(
                           "backup '{}' is retained until {} (object lock); it was kept", backup_id,
                           header->retain_until)))
          .WithHint("a retained backup can only be expired after its retention date");
    PGV_RETURN_IF_ERROR(CheckManifestLock(st, backup_id, now));
    PGV_ASSIGN_OR_RETURN(auto doomed, repo::ObjectsOfBackup(repo, backup_id));
    keys.assign(doomed.manifest_keys.rbegin(), doomed.manifest_keys.rend());
  } else if (header.status().code() == Code::kCorruption) {
    log::Warn("backup '{}' is damaged ({}); removing it by its object names", backup_id,
              header.status().message());
    PGV_RETURN_IF_ERROR(CheckManifestLock(st, backup_id, now));
    PGV_ASSIGN_OR_RETURN(keys, ObjectsUnder(st, backup_id));
  } else if (header.status().IsNotFound()) {
    // Parts whose manifest is lost or an expire interrupted (verify reports them): the same
    // removal, if there is anything left (if only the marker).
    PGV_ASSIGN_OR_RETURN(keys, ObjectsUnder(st, backup_id));
    if (keys.empty()) return header.status();
  } else {
    return header.status();
  }
  std::string marker = repo::IncompleteMarkerKey(backup_id);
  std::erase(keys, marker);  // listed when an earlier expire was interrupted: it goes last
  PGV_RETURN_IF_ERROR(st.Put(marker, AsBytes(backup_id)));
  for (const auto& key : keys) PGV_RETURN_IF_ERROR(st.Delete(key));
  // Its verify/drill/pin records next: records of a backup that is gone are only clutter.
  PGV_RETURN_IF_ERROR(repo::RemoveCatalogRecords(repo, backup_id));
  return st.Delete(marker);
}

}  // namespace

Result<ExpireResult> ExpireBackup(repo::Repository& repo, const std::string& backup_id,
                                  int64_t grace_seconds) {
  PGV_ASSIGN_OR_RETURN(auto results, ExpireBackups(repo, {backup_id}, grace_seconds));
  return std::move(results.front());
}

Result<std::vector<ExpireResult>> ExpireBackups(repo::Repository& repo,
                                                const std::vector<std::string>& backup_ids,
                                                int64_t grace_seconds) {
  storage::Storage& st = repo.storage();
  std::vector<ExpireResult> results;
  if (backup_ids.empty()) return results;
  int64_t now = NowUnixMicros() / 1000000;
  PGV_ASSIGN_OR_RETURN(auto running, repo::FindLiveBackup(st));
  if (running) return repo::BackupRunningError(*running, now, "nothing was expired");
  // Manifests go only while no gc runs: gc lists the manifests after checking backup locks and
  // counts on none vanishing until it has deleted (docs/repository-format.md, "Garbage
  // collection"). Released when expire returns.
  PGV_ASSIGN_OR_RETURN(auto gc_lock, repo::LockGc(st));
  for (const auto& id : backup_ids) {
    PGV_RETURN_IF_ERROR(DeleteManifestObjects(repo, id, now));
    results.push_back({.backup_id = id, .expired_together = 0});
  }
  ExpireResult& result = results.back();
  result.expired_together = results.size();
  // A backup that took its lock after the check above may have chosen blocks in these backups'
  // packs before their manifests went. A backup lists its parents only after taking its lock,
  // so one that is not seen here cannot have seen a deleted manifest: the packs are safe to go.
  PGV_ASSIGN_OR_RETURN(auto started, repo::FindLiveBackup(st));
  if (started) {
    result.gc_skipped_running = started->backup_id;
    log::Warn(
        "backup '{}' started while expiring; no pack was deleted (the next expire collects "
        "them)",
        started->backup_id);
    return results;
  }

  // Garbage: packs no remaining backup references. A damaged backup's references cannot be
  // read, so while one remains no pack is deleted (it might be repaired, e.g. from a replica).
  PGV_ASSIGN_OR_RETURN(auto live, FindLivePacks(repo));
  if (!live.damaged.empty()) {
    result.gc_skipped_for = live.damaged;
    log::Warn("backup '{}' is damaged ({}); no pack was deleted: expire it first", live.damaged,
              live.damage);
    return results;
  }
  PackCollection collected;
  PGV_RETURN_IF_ERROR(CollectPacks(repo, live.packs, now, grace_seconds, collected));
  result.packs_deleted = collected.packs_deleted;
  result.bytes_deleted = collected.bytes_deleted;
  result.packs_locked = collected.packs_locked;
  result.packs_recent = collected.packs_recent;
  result.locked_examples = std::move(collected.locked_examples);
  return results;
}

Result<HoldResult> SetHold(repo::Repository& repo, const std::string& backup_id, bool on) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo::ObjectsOfBackup(repo, backup_id));
  HoldResult result;
  auto hold = [&](const std::string& key) {
    Status s = repo.storage().SetLegalHold(key, on);
    if (s.ok()) result.objects++;
    return s;
  };
  PGV_RETURN_IF_ERROR(repo::ForEachKey(objects, [&](const std::string& key) {
    auto pack = repo::PackIdFromKey(key);
    Status s =
        pack ? repo::ForPackOrWhereItMoved(repo.storage(), repo.codec(), *pack, hold) : hold(key);
    return s.Context(fmt::format("{} legal hold on '{}'", on ? "setting" : "clearing", key));
  }));
  return result;
}

std::string SummaryLine(const ExpireResult& r) {
  if (r.expired_together == 0) return fmt::format("expired backup {}", r.backup_id);
  std::string line = fmt::format("expired backup {}: {} packs deleted ({:.1f} MB)", r.backup_id,
                                 r.packs_deleted, r.bytes_deleted / 1e6);
  if (r.expired_together > 1)
    line += fmt::format(" that the {} backups expired together held", r.expired_together);
  if (r.packs_locked)
    line += fmt::format("; {} unreferenced packs kept because they are locked", r.packs_locked);
  if (r.packs_recent)
    line += fmt::format("; {} recent packs kept for a running backup", r.packs_recent);
  if (!r.gc_skipped_for.empty())
    line += fmt::format("; no pack deleted while backup {} is damaged (expire it too)",
                        r.gc_skipped_for);
  if (!r.gc_skipped_running.empty())
    line += fmt::format("; no pack deleted while backup {} is running", r.gc_skipped_running);
  // Which ones (the first few), as gc and WAL collection name theirs.
  for (const auto& key : r.locked_examples) line += fmt::format("\n  kept {}", key);
  return line;
}

}  // namespace pgvault::retention

// `pgvault gc`: the two-phase run (gc.h). A run, under the gc lock:
//   1. lists backup locks (a live one: nothing is deleted this run) and the packs every backup
//      references (a damaged backup: nothing is marked or deleted);
//   2. deletes the packs that a mark at least the grace period old names and that are still
//      unreferenced (locked ones are kept and reported);
//   3. with --repack (and no backup running), repacks the packs whose live fraction is below the
//      threshold (repack.h): the packs it emptied are unneeded from now on;
//   4. writes its own mark naming the packs and redirects that are unneeded now, then removes the
//      marks it consumed;
//   5. (no backup running) removes what an interrupted backup, expire or repo-sync left under
//      backups/<id>/ (parts beside an incomplete marker, no manifest) untouched for the grace
//      period, and temp files of writers killed mid-write.
// A pack is needed when a backup names it and gc --repack did not move it, or a current redirect
// points into it; a redirect is needed while it is the newest of a pack a backup names.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/time.h"
#include "pipeline/crypto.h"
#include "repo/backup_lock.h"
#include "repo/backup_objects.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "retention/gc.h"
#include "retention/repack.h"

namespace pgvault::retention {

using nlohmann::json;

namespace {

struct Marks {
  std::set<repo::PackId> eligible;    // named by a mark at least the grace period old
  std::set<std::string> redirects;    // redirect keys named so
  std::vector<std::string> consumed;  // those marks' keys
};

// The packs named by the marks written at or before cutoff. A mark that cannot be read names
// nothing (its packs wait for a later mark): skipping a mark never deletes more.
Result<Marks> ReadMarks(storage::Storage& st, int64_t cutoff_micros) {
  Marks marks;
  PGV_ASSIGN_OR_RETURN(auto objects, st.List(repo::kGcPrefix));
  for (const auto& obj : objects) {
    auto time = repo::GcMarkTime(obj.key);
    if (!time || *time > cutoff_micros) continue;
    auto data = st.Get(obj.key);
    if (!data.ok() && data.status().IsNotFound()) continue;
    if (!data.ok()) return data.status();
    json j = json::parse(AsString(*data), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("packs") || !j["packs"].is_array()) {
      log::Warn("gc mark '{}' cannot be read; ignoring it", obj.key);
      continue;
    }
    for (const auto& hex : j["packs"]) {
      Bytes raw;
      if (!hex.is_string() || !FromHex(hex.get<std::string>(), raw) || raw.size() != 16) continue;
      repo::PackId id;
      std::copy(raw.begin(), raw.end(), id.begin());
      marks.eligible.insert(id);
    }
    if (j.contains("redirects") && j["redirects"].is_array())
      for (const auto& key : j["redirects"])
        if (key.is_string() && repo::ParseRedirectKey(key.get<std::string>()))
          marks.redirects.insert(key.get<std::string>());
    marks.consumed.push_back(obj.key);
  }
  return marks;
}

Result<std::string> WriteMark(storage::Storage& st, int64_t now_micros,
                              const std::vector<repo::PackId>& packs,
                              const std::vector<std::string>& redirects) {
  json list = json::array();
  for (const auto& id : packs) list.push_back(ToHex(id));
  json mark{{"version", 1}, {"time_unix_micros", now_micros}, {"packs", list}};
  if (!redirects.empty()) mark["redirects"] = redirects;
  Bytes nonce = pipeline::RandomBytes(4);
  uint32_t n = (uint32_t{nonce[0]} << 24) | (uint32_t{nonce[1]} << 16) | (uint32_t{nonce[2]} << 8) |
               nonce[3];
  std::string key = repo::GcMarkKey(now_micros, n);
  PGV_RETURN_IF_ERROR(st.Put(key, AsBytes(mark.dump()), {.if_absent = true})
                          .Context(fmt::format("writing gc mark '{}'", key)));
  return key;
}

// The oldest live backup lock's id, or "". Stale locks are taken over (removed) unless dry_run.
Result<std::string> RunningBackup(storage::Storage& st, bool dry_run) {
  if (!dry_run) {
    PGV_ASSIGN_OR_RETURN(auto live, repo::FindLiveBackup(st));
    return live ? live->backup_id : std::string();
  }
  PGV_ASSIGN_OR_RETURN(auto locks, repo::ListBackupLocks(st, repo::SystemLockEnv()));
  for (const auto& lock : locks)
    if (lock.state == repo::LockState::kLive) return lock.backup_id;
  return std::string();
}

// Step 2 for the redirects nothing needs: deleted when an old enough mark names them, else
// named by this run's mark.
Status CollectRedirects(storage::Storage& st, const Marks& marks, const LivePacks& live,
                        int64_t now, bool dry_run, GcResult& r,
                        std::vector<std::string>& unneeded) {
  std::vector<storage::ObjectInfo> doomed;
  for (const auto& obj : live.stale_redirects) {
    if (r.skipped_running.empty() && marks.redirects.count(obj.key))
      doomed.push_back(obj);
    else
      unneeded.push_back(obj.key);
  }
  if (dry_run) {
    r.redirects_deleted = doomed.size();
    return Status::Ok();
  }
  PackCollection collected;
  PGV_RETURN_IF_ERROR(DeleteUnlocked(st, doomed, now, collected));
  r.redirects_deleted = collected.packs_deleted;
  unneeded.insert(unneeded.end(), collected.locked_keys.begin(), collected.locked_keys.end());
  return Status::Ok();
}

// Steps 2 to 4 once the live packs are known.
Status DeleteAndMark(repo::Repository& repo, const GcOptions& o, int64_t now_micros,
                     const LivePacks& live, GcResult& r) {
  storage::Storage& st = repo.storage();
  PGV_ASSIGN_OR_RETURN(auto packs, repo.ListPacks());
  PGV_ASSIGN_OR_RETURN(auto marks, ReadMarks(st, now_micros - o.grace_seconds * 1000000));
  std::vector<storage::ObjectInfo> doomed;
  std::vector<repo::PackId> unreferenced;
  for (const auto& [id, obj] : packs) {
    r.packs_total++;
    r.bytes_total += obj.size;
    if (live.Needed(id)) {
      r.packs_live++;
      r.bytes_live += obj.size;
      continue;
    }
    if (r.skipped_running.empty() && marks.eligible.count(id)) {
      doomed.push_back(obj);
      continue;
    }
    r.packs_waiting++;
    unreferenced.push_back(id);
  }
  int64_t now = now_micros / 1000000;
  std::vector<std::string> unneeded_redirects;
  PGV_RETURN_IF_ERROR(CollectRedirects(st, marks, live, now, o.dry_run, r, unneeded_redirects));
  if (o.repack && r.skipped_running.empty()) {
    PGV_ASSIGN_OR_RETURN(auto candidates, PlanRepack(live, packs, o.repack_threshold_percent));
    PGV_RETURN_IF_ERROR(Repack(repo, live, candidates, now, o.dry_run, r.repacked));
    unreferenced.insert(unreferenced.end(), r.repacked.repacked.begin(), r.repacked.repacked.end());
    for (const auto& obj : r.repacked.superseded) unneeded_redirects.push_back(obj.key);
  }
  if (o.dry_run) {
    r.collected.packs_deleted = doomed.size();
    for (const auto& obj : doomed) r.collected.bytes_deleted += obj.size;
    r.packs_marked = unreferenced.size();
    r.redirects_marked = unneeded_redirects.size();
    return Status::Ok();
  }
  PGV_RETURN_IF_ERROR(DeleteUnlocked(st, doomed, now, r.collected));
  // A locked pack stays unreferenced: the next mark names it again.
  for (const auto& key : r.collected.locked_keys)
    if (auto id = repo::PackIdFromKey(key)) unreferenced.push_back(*id);
  r.packs_marked = unreferenced.size();
  r.redirects_marked = unneeded_redirects.size();
  if (!unreferenced.empty() || !unneeded_redirects.empty()) {
    PGV_ASSIGN_OR_RETURN(r.mark_key, WriteMark(st, now_micros, unreferenced, unneeded_redirects));
  }
  if (!r.skipped_running.empty()) return Status::Ok();  // its marks were not used
  for (const auto& key : marks.consumed) PGV_RETURN_IF_ERROR(st.Delete(key));
  r.marks_removed = marks.consumed.size();
  return Status::Ok();
}

// Step 5 for manifest objects: the backup ids whose leftovers were (dry run: would be) removed.
// The marker goes last, so a kill in between leaves a marked directory the next gc finishes. An
// object that cannot be deleted (object lock) keeps its backup's leftovers for a later run.
Result<std::vector<std::string>> RemoveInterruptedBackups(repo::Repository& repo,
                                                          int64_t cutoff_unix, bool dry_run) {
  storage::Storage& st = repo.storage();
  PGV_ASSIGN_OR_RETURN(auto objects, st.List(repo::kBackupsPrefix));
  // Listed after the objects: a backup claims its lock before it writes its marker, so one
  // whose marker is listed above and that is still running (it started after this run checked
  // for running backups) holds a lock here.
  PGV_ASSIGN_OR_RETURN(auto locks, repo::ListBackupLocks(st, repo::SystemLockEnv()));
  std::set<std::string> locked;
  for (const auto& lock : locks) locked.insert(lock.backup_id);
  std::vector<std::string> removed;
  for (const auto& [id, dir] : repo::GroupBackupDirs(std::move(objects))) {
    if (locked.count(id) || !dir.marked || dir.has_manifest) continue;
    if (std::ranges::any_of(dir.objects,
                            [&](const auto& obj) { return obj.mtime_unix > cutoff_unix; }))
      continue;
    std::string marker = repo::IncompleteMarkerKey(id);
    if (!dry_run) {
      Status s;
      for (const auto& obj : dir.objects)
        if (obj.key != marker && s.ok()) s = st.Delete(obj.key);
      if (s.ok()) s = repo::RemoveCatalogRecords(repo, id);
      if (s.ok()) s = st.Delete(marker);
      if (!s.ok()) {
        log::Warn("the leftovers of interrupted backup '{}' stay: {}", id, s.message());
        continue;
      }
    }
    removed.push_back(id);
  }
  return removed;
}

}  // namespace

Result<GcResult> RunGc(repo::Repository& repo, const GcOptions& o) {
  storage::Storage& st = repo.storage();
  int64_t now_micros = o.now_unix_micros ? o.now_unix_micros : NowUnixMicros();
  std::optional<repo::BackupLock> lock;
  if (!o.dry_run) {
    PGV_ASSIGN_OR_RETURN(auto held, repo::LockGc(st));
    lock.emplace(std::move(held));
  }
  GcResult r{.dry_run = o.dry_run, .repack = o.repack};
  // Backup locks first, manifests second: a backup that takes its lock after this check lists
  // the manifests after it too, so every block it reuses is in a pack `live` holds.
  PGV_ASSIGN_OR_RETURN(r.skipped_running, RunningBackup(st, o.dry_run));
  if (!r.skipped_running.empty())
    log::Warn("backup '{}' is running; no pack is deleted this run (packs are only marked)",
              r.skipped_running);
  PGV_ASSIGN_OR_RETURN(auto live, FindLivePacks(repo, /*with_blocks=*/o.repack));
  if (!live.damaged.empty()) {
    r.skipped_damaged = live.damaged;
    log::Warn(
        "'{}' is damaged ({}); no pack was marked or deleted: expire it first (a backup) or "
        "restore it from a replica",
        live.damaged, live.damage);
  } else {
    PGV_RETURN_IF_ERROR(DeleteAndMark(repo, o, now_micros, live, r));
  }
  // No writer runs for the grace period without finishing its object.
  int64_t cutoff_unix = now_micros / 1000000 - o.grace_seconds;
  if (r.skipped_running.empty()) {
    PGV_ASSIGN_OR_RETURN(r.interrupted_backups,
                         RemoveInterruptedBackups(repo, cutoff_unix, o.dry_run));
  }
  PGV_ASSIGN_OR_RETURN(r.abandoned, st.RemoveAbandonedWrites(cutoff_unix, o.dry_run));
  if (lock) PGV_RETURN_IF_ERROR(lock->Release());
  return r;
}

std::string GcText(const GcResult& r) {
  std::string out =
      fmt::format("{}packs: {} ({:.1f} MB), referenced by a backup: {} ({:.1f} MB)\n",
                  r.dry_run ? "gc --dry-run: nothing was changed\n" : "", r.packs_total,
                  r.bytes_total / 1e6, r.packs_live, r.bytes_live / 1e6);
  out += fmt::format("{} {} packs ({:.1f} MB) marked by an earlier gc\n",
                     r.dry_run ? "would delete" : "deleted", r.collected.packs_deleted,
                     r.collected.bytes_deleted / 1e6);
  if (r.collected.packs_locked)
    out += fmt::format("kept {} unreferenced packs because they are locked (object lock)\n",
                       r.collected.packs_locked);
  if (r.packs_marked)
    out += fmt::format("{} {} unreferenced packs: a gc after the grace period deletes them\n",
                       r.dry_run ? "would mark" : "marked", r.packs_marked);
  if (r.redirects_deleted || r.redirects_marked)
    out += fmt::format("redirects: {} {} no backup needs, {} {}\n",
                       r.dry_run ? "would delete" : "deleted", r.redirects_deleted,
                       r.dry_run ? "would mark" : "marked", r.redirects_marked);
  if (r.abandoned.count)
    out += fmt::format("{} {} partial writes ({:.1f} MB) that killed writers left\n",
                       r.dry_run ? "would remove" : "removed", r.abandoned.count,
                       r.abandoned.bytes / 1e6);
  for (const auto& id : r.interrupted_backups)
    out += fmt::format("{} what an interrupted backup, expire or repo-sync of '{}' left\n",
                       r.dry_run ? "would remove" : "removed", id);
  const RepackResult& p = r.repacked;
  if (r.repack && r.skipped_running.empty() && r.skipped_damaged.empty())
    out += fmt::format(
        "{} {} packs ({:.1f} MB, freed by a gc after the grace period), {:.1f} MB of live "
        "blocks copied into {} new packs, {} redirects written\n",
        r.dry_run ? "would repack" : "repacked", p.packs_repacked, p.bytes_freeable / 1e6,
        p.bytes_copied / 1e6, p.packs_written, p.redirects_written);
  for (const auto& key : p.locked_keys) out += fmt::format("not repacked, locked: {}\n", key);
  for (const auto& why : p.damaged) out += fmt::format("not repacked, damaged: {}\n", why);
  if (!r.skipped_running.empty())
    out += fmt::format("no pack deleted{} while backup {} is running\n",
                       r.repack ? " or repacked" : "", r.skipped_running);
  if (!r.skipped_damaged.empty())
    out += fmt::format(
        "nothing marked or deleted while '{}' is damaged (expire the backup, or "
        "restore the object from a replica)\n",
        r.skipped_damaged);
  return out;
}

}  // namespace pgvault::retention

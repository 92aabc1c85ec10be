#include "retention/expire.h"

#include <fmt/format.h>

#include <set>

#include "common/log.h"
#include "common/time.h"
#include "repo/backup_lock.h"
#include "repo/backup_objects.h"
#include "repo/layout.h"
#include "repo/manifest.h"

namespace pgvault::retention {

Result<ExpireResult> ExpireBackup(repo::Repository& repo, const std::string& backup_id,
                                  int64_t grace_seconds) {
  storage::Storage& st = repo.storage();
  int64_t now = NowUnixMicros() / 1000000;
  PGV_ASSIGN_OR_RETURN(auto header, repo::ReadManifestHeader(st, repo.codec(), backup_id));
  int64_t retain_until = header.value("retain_until_unix", 0ll);
  if (retain_until > now)
    return std::move(Status::Conflict(
                         fmt::format("backup '{}' is retained until {} (object lock); it was kept",
                                     backup_id, header.value("retain_until", ""))))
        .WithHint("a retained backup can only be expired after its retention date");
  if (st.features().object_lock) {
    PGV_ASSIGN_OR_RETURN(auto info, st.Stat(repo::ManifestKey(backup_id)));
    if (info.legal_hold)
      return std::move(Status::Conflict(
                           fmt::format("backup '{}' is on legal hold; it was kept", backup_id)))
          .WithHint(fmt::format("clear it first with: pgvault hold clear --backup {}", backup_id));
  }
  PGV_ASSIGN_OR_RETURN(auto running, repo::FindLiveBackup(st));
  if (running) return repo::BackupRunningError(*running, now, "nothing was expired");

  PGV_ASSIGN_OR_RETURN(auto doomed, repo::ObjectsOfBackup(repo, backup_id));
  // References first: once the manifest is gone the backup no longer exists.
  for (auto it = doomed.manifest_keys.rbegin(); it != doomed.manifest_keys.rend(); ++it)
    PGV_RETURN_IF_ERROR(st.Delete(*it));

  std::set<repo::PackId> live;
  PGV_ASSIGN_OR_RETURN(auto remaining, repo::ListBackups(st));
  for (const auto& id : remaining) {
    PGV_ASSIGN_OR_RETURN(auto objects, repo::ObjectsOfBackup(repo, id));
    live.insert(objects.packs.begin(), objects.packs.end());
  }
  ExpireResult result{.backup_id = backup_id};
  PGV_ASSIGN_OR_RETURN(auto packs, st.List(repo::kPacksPrefix));
  for (const auto& obj : packs) {
    auto id = repo::PackIdFromKey(obj.key);
    if (!id || live.count(*id)) continue;
    if (now - obj.mtime_unix < grace_seconds) {
      result.packs_recent++;  // may belong to a backup still being written
      continue;
    }
    if (st.features().object_lock) {
      PGV_ASSIGN_OR_RETURN(auto info, st.Stat(obj.key));
      if (info.retain_until_unix > now || info.legal_hold) {
        result.packs_locked++;
        if (result.locked_examples.size() < 5)
          result.locked_examples.push_back(fmt::format(
              "{} ({})", obj.key,
              info.legal_hold
                  ? "legal hold"
                  : "retained until " + FormatIsoMicros(info.retain_until_unix * 1000000)));
        continue;
      }
    }
    PGV_RETURN_IF_ERROR(st.Delete(obj.key));
    result.packs_deleted++;
    result.bytes_deleted += obj.size;
  }
  for (const auto& example : result.locked_examples) log::Warn("kept locked object {}", example);
  return result;
}

Result<HoldResult> SetHold(repo::Repository& repo, const std::string& backup_id, bool on) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo::ObjectsOfBackup(repo, backup_id));
  HoldResult result;
  PGV_RETURN_IF_ERROR(repo::ForEachKey(objects, [&](const std::string& key) {
    Status s = repo.storage().SetLegalHold(key, on);
    if (s.ok()) result.objects++;
    return s.Context(fmt::format("{} legal hold on '{}'", on ? "setting" : "clearing", key));
  }));
  return result;
}

std::string SummaryLine(const ExpireResult& r) {
  std::string line = fmt::format("expired backup {}: {} packs deleted ({:.1f} MB)", r.backup_id,
                                 r.packs_deleted, r.bytes_deleted / 1e6);
  if (r.packs_locked)
    line += fmt::format("; {} unreferenced packs kept because they are locked", r.packs_locked);
  if (r.packs_recent)
    line += fmt::format("; {} recent packs kept for a running backup", r.packs_recent);
  return line;
}

}  // namespace pgvault::retention

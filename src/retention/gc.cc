#include "retention/gc.h"

#include <fmt/format.h>

#include <map>

#include "common/log.h"
#include "common/time.h"
#include "repo/backup_objects.h"

namespace pgvault::retention {

Status DeleteUnlocked(storage::Storage& st, const std::vector<storage::ObjectInfo>& objects,
                      int64_t now, PackCollection& result) {
  std::vector<std::string> keys;
  std::map<std::string, uint64_t> sizes;
  auto keep = [&](const std::string& key, const std::string& reason) {
    result.packs_locked++;
    result.locked_keys.push_back(key);
    if (result.locked_examples.size() < 5)
      result.locked_examples.push_back(fmt::format("{} ({})", key, reason));
  };
  for (const auto& obj : objects) {
    if (st.features().object_lock) {
      PGV_ASSIGN_OR_RETURN(auto info, st.Stat(obj.key));
      if (info.retain_until_unix > now || info.legal_hold) {
        keep(obj.key, info.legal_hold
                          ? "legal hold"
                          : "retained until " + FormatIsoSeconds(info.retain_until_unix));
        continue;
      }
    }
    keys.push_back(obj.key);
    sizes[obj.key] = obj.size;
  }
  PGV_ASSIGN_OR_RETURN(auto kept, st.DeleteBatch(keys));
  for (const auto& k : kept) {
    keep(k.key, k.reason);
    sizes.erase(k.key);
  }
  for (const auto& [key, size] : sizes) {
    result.packs_deleted++;
    result.bytes_deleted += size;
  }
  for (const auto& example : result.locked_examples) log::Warn("kept locked object {}", example);
  return Status::Ok();
}

Result<LivePacks> FindLivePacks(repo::Repository& repo) {
  LivePacks live;
  PGV_ASSIGN_OR_RETURN(auto remaining, repo.ListBackupHeaders());
  for (const auto& backup : remaining) {
    if (!backup.intact()) {
      live.damaged = backup.id;
      live.damage = backup.damage;
      return live;
    }
    PGV_ASSIGN_OR_RETURN(auto objects, repo::ObjectsOfBackup(repo, backup.id));
    live.packs.insert(objects.packs.begin(), objects.packs.end());
  }
  return live;
}

Status CollectPacks(repo::Repository& repo, const std::set<repo::PackId>& live, int64_t now,
                    int64_t grace_seconds, PackCollection& result) {
  PGV_ASSIGN_OR_RETURN(auto packs, repo.ListPacks());
  std::vector<storage::ObjectInfo> doomed;
  for (const auto& [id, obj] : packs) {
    if (live.count(id)) continue;
    if (now - obj.mtime_unix < grace_seconds) {
      result.packs_recent++;  // may belong to a backup still being written
      continue;
    }
    doomed.push_back(obj);
  }
  return DeleteUnlocked(repo.storage(), doomed, now, result);
}

}  // namespace pgvault::retention

#include "retention/gc.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "common/log.h"
#include "common/time.h"
#include "repo/backup_objects.h"
#include "repo/manifest.h"

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

namespace {

// Adds the packs (and with blocks, the locations) one backup's manifest names.
Status AddBackup(repo::Repository& repo, const std::string& backup_id, LivePacks& live,
                 bool with_blocks) {
  if (!with_blocks) {
    PGV_ASSIGN_OR_RETURN(auto objects, repo::ObjectsOfBackup(repo, backup_id));
    live.named.insert(objects.packs.begin(), objects.packs.end());
    return Status::Ok();
  }
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(backup_id));
  repo::FileEntry e;
  // This backup's locations apart, then merged: backups share most blocks, so the merged lists
  // hold each block once and memory peaks at them plus one backup's.
  std::map<repo::PackId, std::vector<BlockSpan>> own;
  auto add = [&](const repo::BlockLocation& loc) {
    own[loc.pack].emplace_back(loc.offset, loc.size);
  };
  while (reader->Next(e))
    for (const repo::BlockRef& b : e.blocks) {
      if (b.zero) continue;
      add(b.loc);
      if (b.delta) add(b.base_loc);  // a delta needs its base
    }
  PGV_RETURN_IF_ERROR(reader->status());
  for (auto& [pack, spans] : own) {
    live.named.insert(pack);
    std::sort(spans.begin(), spans.end());
    std::vector<BlockSpan>& all = live.blocks[pack];
    size_t before = all.size();
    all.insert(all.end(), spans.begin(), spans.end());
    std::inplace_merge(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
  }
  return Status::Ok();
}

}  // namespace

Result<LivePacks> FindLivePacks(repo::Repository& repo, bool with_blocks) {
  LivePacks live;
  PGV_ASSIGN_OR_RETURN(auto remaining, repo.ListBackupHeaders());
  for (const auto& backup : remaining) {
    if (!backup.intact()) {
      live.damaged = backup.id;
      live.damage = backup.damage;
      return live;
    }
    PGV_RETURN_IF_ERROR(AddBackup(repo, backup.id, live, with_blocks));
  }
  live.packs = live.named;
  // Redirects: the newest generation of a named pack is current and keeps its targets; every
  // other one is stale. Sorted by key, so a pack's generations are adjacent, oldest first.
  PGV_ASSIGN_OR_RETURN(auto redirects, repo::ListRedirects(repo.storage()));
  for (size_t idx = 0; idx < redirects.size(); ++idx) {
    const auto& [name, object] = redirects[idx];
    bool newest = idx + 1 == redirects.size() || redirects[idx + 1].name.old_pack != name.old_pack;
    if (!newest || !live.named.count(name.old_pack)) {
      live.stale_redirects.push_back(object);
      continue;
    }
    PGV_ASSIGN_OR_RETURN(Bytes data, repo.storage().Get(object.key));
    auto redirect = repo::DecodeRedirect(repo.codec(), object.key, data);
    if (!redirect.ok()) {
      live.damaged = object.key;
      live.damage = redirect.status().message();
      return live;
    }
    for (const auto& e : redirect->entries) live.packs.insert(e.pack);
    live.redirects.emplace(name.old_pack, std::move(redirect).value());
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

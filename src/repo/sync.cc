#include "repo/sync.h"

#include <fmt/format.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>

#include "common/work_queue.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/redirect.h"
#include "repo/wal_store.h"

namespace pgvault::repo {
namespace {

// Lower phases are copied first; see the header for why.
int Phase(std::string_view key) {
  switch (ClassifyKey(key)) {
    case ObjectKind::kKey:
      return 0;
    case ObjectKind::kCluster:
      return 1;
    case ObjectKind::kPack:
      return 2;
    case ObjectKind::kRedirect:
      return 3;  // after the packs it points into
    case ObjectKind::kWal:
      return 4;
    case ObjectKind::kBackup:
      return IsIncompleteMarkerKey(key) ? -1 : 5;
    case ObjectKind::kManifest:
      return 6;
    case ObjectKind::kCatalog:
      return 7;  // after the manifest: a record names a backup that exists
    case ObjectKind::kConfig:
      return 8;
    case ObjectKind::kLock:
    case ObjectKind::kGc:      // marks describe this repository's packs at a time: not copied
    case ObjectKind::kStream:  // superseded within seconds; the finished segment is copied
    case ObjectKind::kProbe:   // check's write probe, deleted at once
    case ObjectKind::kOther:
      break;
  }
  return -1;  // not part of the format (or a running backup's lock): left alone
}

Status Verify(Repository& from, pipeline::Hmac& hmac, const std::string& key, ByteView data) {
  switch (Phase(key)) {
    case 2: {
      auto id = PackIdFromKey(key);
      if (!id) return Status::Corruption(fmt::format("'{}' is not a pack name", key));
      return VerifyPack(from.storage(), from.codec(), hmac, *id, data);
    }
    case 3:
      return DecodeRedirect(from.codec(), key, data).status();
    case 4:
      return VerifyWalObject(from, key, data);
    case 5:
    case 6:
      return VerifyManifestObject(from.codec(), key, data);
    case 7:
      return VerifyCatalogRecordObject(from.codec(), key, data);
    default: {
      auto j = nlohmann::json::parse(AsString(data), nullptr, false);
      if (j.is_discarded()) return Status::Corruption(fmt::format("'{}' is not valid JSON", key));
      return Status::Ok();
    }
  }
}

}  // namespace

Result<SyncStats> SyncRepository(Repository& from, storage::Storage& to, int jobs) {
  auto target_config = to.Get(kConfigKey);
  if (target_config.ok()) {
    auto j = nlohmann::json::parse(AsString(*target_config), nullptr, false);
    if (j.is_discarded() || j.value("repo_id", "") != from.config().repo_id)
      return std::move(Status::Conflict(
                           fmt::format("'{}' holds another repository, not a replica of '{}'",
                                       to.Describe(), from.Describe())))
          .WithHint("sync into an empty location or an existing replica of the same repository");
  } else if (!target_config.status().IsNotFound()) {
    return target_config.status().Context(fmt::format("reading '{}'", to.Describe()));
  }
  PGV_ASSIGN_OR_RETURN(auto source_objects, from.storage().List(""));
  PGV_ASSIGN_OR_RETURN(auto target_objects, to.List(""));
  std::set<std::string> present;
  for (const auto& obj : target_objects) present.insert(obj.key);

  SyncStats stats;
  std::vector<std::vector<std::string>> phases(9);
  std::set<std::string> source_manifests;
  for (const auto& obj : source_objects)
    if (auto id = BackupIdFromManifestKey(obj.key)) source_manifests.insert(*id);
  // Backups whose manifest objects this sync copies: marked incomplete in the target meanwhile.
  std::set<std::string> marked;
  for (const auto& obj : source_objects) {
    int phase = Phase(obj.key);
    if (phase < 0) continue;
    if (present.count(obj.key)) {
      stats.objects_present++;
      continue;
    }
    if (phase == 5 || phase == 6) {
      std::string id = *BackupDirFromKey(obj.key);
      if (!source_manifests.count(id)) continue;  // left by an interrupted backup or expire
      marked.insert(id);
    }
    phases[phase].push_back(obj.key);
  }
  // Markers an interrupted sync left for backups that are whole now go too.
  for (const auto& key : present)
    if (IsIncompleteMarkerKey(key))
      if (std::string id = *BackupDirFromKey(key); source_manifests.count(id)) marked.insert(id);
  std::atomic<uint64_t> copied{0}, bytes{0};
  for (size_t phase = 0; phase < phases.size(); ++phase) {
    const auto& keys = phases[phase];
    if (phase == 5)
      for (const auto& id : marked)
        if (!present.count(IncompleteMarkerKey(id)))
          PGV_RETURN_IF_ERROR(to.Put(IncompleteMarkerKey(id), AsBytes(id)));
    if (phase == 7)
      for (const auto& id : marked) PGV_RETURN_IF_ERROR(to.Delete(IncompleteMarkerKey(id)));
    Status failure = ParallelFor(keys.size(), jobs, [&](size_t idx) {
      pipeline::Hmac hmac(from.id_key());  // per object: its cost is nothing next to the copy
      const std::string& key = keys[idx];
      auto data = from.storage().Get(key);
      if (!data.ok()) return data.status().Context(fmt::format("reading '{}'", key));
      PGV_RETURN_IF_ERROR(Verify(from, hmac, key, *data));
      Status s = to.Put(key, *data, {.if_absent = true, .owner_only = IsOwnerOnlyKey(key)});
      if (s.code() == Code::kConflict)
        return Status::Ok();  // written by an earlier, interrupted sync
      if (s.ok()) copied++, bytes += data->size();
      return s;
    });
    if (!failure.ok()) return failure.Context(fmt::format("syncing into '{}'", to.Describe()));
  }
  // A replica whose config predates the source's format (gc --repack raised it) gets the new
  // config last, once the redirects it announces are there.
  if (target_config.ok()) {
    auto j = nlohmann::json::parse(AsString(*target_config), nullptr, false);
    if (j.value("format", 0) < from.config().format) {
      PGV_ASSIGN_OR_RETURN(Bytes config, from.storage().Get(kConfigKey));
      PGV_RETURN_IF_ERROR(to.Put(kConfigKey, config, {.owner_only = true})
                              .Context(fmt::format("raising the format of '{}'", to.Describe())));
      copied++, bytes += config.size();
    }
  }
  stats.objects_copied = copied;
  stats.bytes_copied = bytes;
  return stats;
}

}  // namespace pgvault::repo

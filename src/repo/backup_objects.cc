#include "repo/backup_objects.h"

#include <fmt/format.h>

#include "pg/wal_names.h"
#include "repo/manifest.h"

namespace pgvault::repo {

Result<BackupObjects> ObjectsOfBackup(Repository& repo, const std::string& backup_id) {
  PGV_ASSIGN_OR_RETURN(auto reader, repo.OpenManifest(backup_id));
  BackupObjects out;
  FileEntry e;
  while (reader->Next(e))
    for (const BlockRef& b : e.blocks) {
      if (b.zero) continue;
      out.packs.insert(b.loc.pack);
      if (b.delta) out.packs.insert(b.base_loc.pack);  // a delta needs its base
    }
  PGV_RETURN_IF_ERROR(reader->status());
  const auto& h = reader->header();
  for (uint32_t part = 0; part < h.parts; ++part)
    out.manifest_keys.push_back(ManifestPartKey(backup_id, part));
  out.manifest_keys.push_back(ManifestKey(backup_id));
  uint64_t segment_size = h.wal_segment_size;
  uint32_t tl_start, tl_stop;
  uint64_t seg_start, seg_stop;
  if (!pg::ParseSegmentName(h.start_wal, tl_start, seg_start, segment_size) ||
      !pg::ParseSegmentName(h.stop_wal, tl_stop, seg_stop, segment_size) || seg_stop < seg_start)
    return Status::Corruption(
        fmt::format("manifest of backup '{}' has no valid WAL range", backup_id));
  for (uint64_t segno = seg_start; segno <= seg_stop; ++segno)
    out.wal_keys.push_back(*WalKey(pg::SegmentName(tl_stop, segno * segment_size, segment_size)));
  return out;
}

std::map<std::string, BackupDir> GroupBackupDirs(std::vector<storage::ObjectInfo> objects) {
  std::map<std::string, BackupDir> dirs;
  for (auto& obj : objects) {
    auto id = BackupDirFromKey(obj.key);
    if (!id) continue;
    BackupDir& dir = dirs[*id];
    dir.has_manifest |= obj.key == ManifestKey(*id);
    dir.marked |= obj.key == IncompleteMarkerKey(*id);
    dir.objects.push_back(std::move(obj));
  }
  return dirs;
}

Status ForEachKey(const BackupObjects& objects,
                  const std::function<Status(const std::string& key)>& fn) {
  for (const PackId& id : objects.packs) PGV_RETURN_IF_ERROR(fn(PackKey(id)));
  for (const std::string& key : objects.wal_keys) PGV_RETURN_IF_ERROR(fn(key));
  for (const std::string& key : objects.manifest_keys) PGV_RETURN_IF_ERROR(fn(key));
  return Status::Ok();
}

}  // namespace pgvault::repo

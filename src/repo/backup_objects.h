// Which objects a backup depends on: used to lock (object lock, legal hold) and to collect garbage.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "repo/layout.h"
#include "repo/repository.h"

namespace pgvault::repo {

struct BackupObjects {
  std::vector<std::string> manifest_keys;  // parts, then the manifest itself
  std::set<PackId> packs;
  std::vector<std::string> wal_keys;  // start_wal .. stop_wal on the backup's timeline
};

// Streams the backup's manifest once. kNotFound when the backup does not exist.
Result<BackupObjects> ObjectsOfBackup(Repository& repo, const std::string& backup_id);

// What a listing of backups/ holds under each backup id (the path element after backups/).
struct BackupDir {
  std::vector<storage::ObjectInfo> objects;
  bool has_manifest = false;  // the backup exists
  bool marked = false;  // its incomplete marker: a backup, expire or repo-sync was interrupted
};
std::map<std::string, BackupDir> GroupBackupDirs(std::vector<storage::ObjectInfo> objects);

// Applies fn to every object key of objects: packs, WAL, manifest parts, manifest (last).
Status ForEachKey(const BackupObjects& objects,
                  const std::function<Status(const std::string& key)>& fn);

}  // namespace pgvault::repo

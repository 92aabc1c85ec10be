// Repository's accessors for the parts of the format (repository.h): each binds the part to this
// repository's storage, codec and id key.
#include <fmt/format.h>

#include "repo/block_reader.h"
#include "repo/layout.h"
#include "repo/repository.h"
#include "repo/wal_store.h"

namespace pgvault::repo {
namespace {

Result<std::string> WalObjectKey(std::string_view name) {
  auto key = WalKey(name);
  if (!key) return Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name));
  return *key;
}

}  // namespace

Result<std::unique_ptr<ManifestReader>> Repository::OpenManifest(std::string_view backup_id) {
  return ManifestReader::Open(*storage_, *codec_, backup_id);
}

Result<ManifestHeader> Repository::ReadManifestHeader(std::string_view backup_id) {
  return repo::ReadManifestHeader(*storage_, *codec_, backup_id);
}

Result<std::vector<std::string>> Repository::ListBackups() { return repo::ListBackups(*storage_); }

Result<std::vector<ListedBackup>> Repository::ListBackupHeaders() {
  return repo::ListBackupHeaders(*storage_, *codec_);
}

PackWriter Repository::NewPackWriter(pipeline::StageTimes* times) {
  return PackWriter(*storage_, *codec_, config_.params.pack_size, times);
}

ManifestWriter Repository::NewManifestWriter(std::string backup_id) {
  return ManifestWriter(*storage_, *codec_, std::move(backup_id));
}

BlockReader Repository::NewBlockReader(IdCheck check) {
  return BlockReader(*storage_, *codec_, id_key_, check);
}

Result<std::vector<ListedPack>> Repository::ListPacks() {
  PGV_ASSIGN_OR_RETURN(auto objects, storage_->List(kPacksPrefix));
  std::vector<ListedPack> out;
  for (auto& obj : objects)
    if (auto id = PackIdFromKey(obj.key)) out.push_back({.id = *id, .object = std::move(obj)});
  return out;
}

Result<PackIndex> Repository::ReadPackIndex(const PackId& id, uint64_t pack_size) {
  return repo::ReadPackIndex(*storage_, *codec_, id, pack_size);
}

Result<std::vector<WalFileInfo>> Repository::ListWal() { return repo::ListWal(*storage_); }

Result<bool> Repository::HasWal(std::string_view name) {
  PGV_ASSIGN_OR_RETURN(std::string key, WalObjectKey(name));
  auto st = storage_->Stat(key);
  if (st.ok()) return true;
  if (st.status().IsNotFound()) return false;
  return st.status();
}

Result<Bytes> Repository::GetWalObject(std::string_view name) {
  PGV_ASSIGN_OR_RETURN(std::string key, WalObjectKey(name));
  return storage_->Get(key);
}

}  // namespace pgvault::repo

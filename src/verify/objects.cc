#include "verify/objects.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "repo/backup_objects.h"
#include "repo/catalog.h"
#include "repo/layout.h"

namespace pgvault::verify {
namespace {

constexpr size_t kMaxLines = 20;

// At most kMaxLines lines, then one saying how many more there were.
void Cap(std::vector<std::string>& lines, const std::string& what) {
  if (lines.size() <= kMaxLines) return;
  size_t more = lines.size() - kMaxLines;
  lines.resize(kMaxLines);
  lines.push_back(fmt::format("... and {} more {}", more, what));
}

}  // namespace

Result<PackTable> PackTable::List(repo::Repository& repo) {
  PackTable table;
  table.repo_ = &repo;
  PGV_ASSIGN_OR_RETURN(auto packs, repo.ListPacks());
  for (const auto& pack : packs)
    table.packs_[pack.id] = Pack{.key = pack.object.key, .size = pack.object.size};
  PGV_ASSIGN_OR_RETURN(auto redirects, repo::ListRedirects(repo.storage()));
  for (const auto& r : redirects)  // by key: the newest generation of a pack comes last
    table.moved_[r.name.old_pack] = Moved{.key = r.object.key};
  return table;
}

void PackTable::Load(const repo::PackId& id, Pack& pack) {
  pack.loaded = true;
  auto index = repo_->ReadPackIndex(id, pack.size);
  if (!index.ok()) {
    pack.problem = index.status().message();
    return;
  }
  for (const auto& e : index->entries) {
    pack.offsets.push_back(e.offset);
    pack.sizes.push_back(e.size);
    pack.ids.push_back(e.id);
  }
  pack.referenced.assign(pack.offsets.size(), false);
}

const repo::Redirect* PackTable::LoadRedirect(Moved& moved) {
  if (!moved.loaded) {
    moved.loaded = true;
    auto data = repo_->storage().Get(moved.key);
    auto r = data.ok() ? repo::DecodeRedirect(repo_->codec(), moved.key, *data)
                       : Result<repo::Redirect>(data.status());
    if (r.ok())
      moved.redirect = std::move(r).value();
    else
      redirect_problems_.push_back(fmt::format("'{}': {}", moved.key, r.status().message()));
  }
  return moved.redirect ? &*moved.redirect : nullptr;
}

std::optional<std::string> PackTable::Mark(const repo::BlockLocation& loc,
                                           const pipeline::Digest& id) {
  std::lock_guard lock(*mu_);
  auto moved = moved_.find(loc.pack);
  if (moved == moved_.end()) return MarkStored(loc, nullptr);
  moved->second.referenced = true;
  const repo::Redirect* r = LoadRedirect(moved->second);
  if (!r) return std::nullopt;  // reported once, by problems()
  const repo::RedirectEntry* e = r->Find(loc.offset, loc.size);
  if (!e)
    return fmt::format("block at offset {} of moved pack '{}' is not in its redirect '{}'",
                       loc.offset, repo::PackKey(loc.pack), moved->second.key);
  if (e->id != id)
    return fmt::format("redirect '{}' lists another block at offset {}", moved->second.key,
                       loc.offset);
  return MarkStored({.pack = e->pack, .offset = e->offset, .size = e->size}, &id);
}

std::optional<std::string> PackTable::MarkStored(const repo::BlockLocation& loc,
                                                 const pipeline::Digest* id) {
  auto it = packs_.find(loc.pack);
  if (it == packs_.end()) return std::nullopt;
  Pack& pack = it->second;
  if (!pack.loaded) Load(loc.pack, pack);
  if (!pack.problem.empty()) return std::nullopt;  // reported once, by problems()
  auto at = std::lower_bound(pack.offsets.begin(), pack.offsets.end(), loc.offset);
  size_t idx = at - pack.offsets.begin();
  if (at == pack.offsets.end() || *at != loc.offset || pack.sizes[idx] != loc.size ||
      (id && pack.ids[idx] != *id))
    return fmt::format("block at offset {} ({} bytes) of pack '{}' is not in the pack's index",
                       loc.offset, loc.size, pack.key);
  pack.referenced[idx] = true;
  return std::nullopt;
}

void PackTable::LoadAll() {
  std::lock_guard lock(*mu_);
  for (auto& [id, pack] : packs_)
    if (!pack.loaded) Load(id, pack);
  // Every current redirect: its targets must exist and hold the blocks it names.
  for (auto& [old_pack, moved] : moved_) {
    if (!moved.referenced) continue;
    const repo::Redirect* r = LoadRedirect(moved);
    if (!r) continue;
    for (const auto& e : r->entries) {
      auto target = packs_.find(e.pack);
      if (target == packs_.end()) {
        redirect_problems_.push_back(fmt::format("'{}' points into pack '{}', which is missing",
                                                 moved.key, repo::PackKey(e.pack)));
        break;
      }
      const Pack& pack = target->second;
      if (!pack.problem.empty()) continue;
      auto at = std::lower_bound(pack.offsets.begin(), pack.offsets.end(), e.offset);
      size_t idx = at - pack.offsets.begin();
      if (at == pack.offsets.end() || *at != e.offset || pack.sizes[idx] != e.size ||
          pack.ids[idx] != e.id) {
        redirect_problems_.push_back(
            fmt::format("'{}': the block it moved from offset {} is not at offset {} of pack '{}'",
                        moved.key, e.old_offset, e.offset, pack.key));
        break;
      }
    }
  }
}

std::vector<std::string> PackTable::problems() const {
  std::vector<std::string> out;
  for (const auto& [id, pack] : packs_)
    if (!pack.problem.empty()) out.push_back(pack.problem);
  out.insert(out.end(), redirect_problems_.begin(), redirect_problems_.end());
  Cap(out, "damaged packs and redirects");
  return out;
}

std::vector<std::string> PackTable::UnreferencedWarnings() const {
  std::vector<std::string> out;
  for (const auto& [id, pack] : packs_) {
    if (!pack.loaded || !pack.problem.empty()) continue;
    uint64_t unused = 0, blocks = 0;
    for (size_t idx = 0; idx < pack.offsets.size(); ++idx)
      if (!pack.referenced[idx]) unused += pack.sizes[idx], blocks++;
    if (blocks == pack.offsets.size())
      out.push_back(fmt::format("unreferenced: pack '{}' ({} bytes): no backup uses it", pack.key,
                                pack.size));
    else if (blocks > 0)
      out.push_back(
          fmt::format("unreferenced: {} bytes ({} blocks) of pack '{}': no backup uses them",
                      unused, blocks, pack.key));
  }
  Cap(out, "packs with unreferenced bytes");
  return out;
}

Result<ManifestObjectFindings> CheckManifestObjects(repo::Repository& repo) {
  storage::Storage& st = repo.storage();
  PGV_ASSIGN_OR_RETURN(auto objects, st.List(repo::kBackupsPrefix));
  PGV_ASSIGN_OR_RETURN(auto locks, st.List(repo::kLocksPrefix));
  std::set<std::string> locked;
  for (const auto& lock : locks) locked.insert(lock.key);
  ManifestObjectFindings out;
  for (const auto& [id, dir] : repo::GroupBackupDirs(std::move(objects))) {
    std::string names;
    for (const auto& obj : dir.objects)
      names += fmt::format("{}'{}'", names.empty() ? "" : ", ", obj.key);
    if (!dir.has_manifest) {
      if (locked.count(repo::BackupLockKey(id)))
        out.warnings.push_back(fmt::format(
            "unreferenced: {}: backup '{}' is being written or was interrupted (it holds a lock)",
            names, id));
      else if (dir.marked)
        out.warnings.push_back(fmt::format(
            "unreferenced: {}: a backup, expire or repo-sync of '{}' was interrupted (gc removes "
            "them after the grace period; now: pgvault expire --backup {}, or repo-sync again)",
            names, id, id));
      else
        out.problems.push_back(fmt::format(
            "backup '{}' lost its manifest: {} are left without it (remove them with: pgvault "
            "expire --backup {})",
            id, names, id));
      continue;
    }
    // Objects the header does not name: parts beyond its count, anything else.
    auto header = repo.ReadManifestHeader(id);
    if (!header.ok()) continue;  // reported with the backup
    // A marker beside a manifest: an expire killed before the manifest went, or a sync after
    // it was copied.
    std::set<std::string> named = {repo::ManifestKey(id), repo::IncompleteMarkerKey(id)};
    for (uint32_t part = 0; part < header->parts; ++part)
      named.insert(repo::ManifestPartKey(id, part));
    for (const auto& obj : dir.objects)
      if (!named.count(obj.key))
        out.warnings.push_back(fmt::format(
            "unreferenced: '{}': the manifest of backup '{}' does not name it", obj.key, id));
  }
  Cap(out.problems, "backups");
  Cap(out.warnings, "objects");
  return out;
}

namespace {

bool KnownRecordKind(std::string_view kind) {
  for (auto k : {repo::RecordKind::kVerify, repo::RecordKind::kDrill, repo::RecordKind::kPin,
                 repo::RecordKind::kWalCut})
    if (repo::RecordKindName(k) == kind) return true;
  return false;
}

// The cluster object against the intact backups' headers; "" when it agrees.
std::string ClusterProblem(repo::Repository& repo) {
  auto listed = repo.ListBackupHeaders();
  if (!listed.ok()) return "";  // reported with the backups
  const repo::ManifestHeader* newest = nullptr;
  for (const auto& b : *listed)
    if (b.intact()) newest = &*b.header;
  if (!newest) return "";  // no backup yet: archive-push alone may not have written one
  auto raw = repo.storage().Get(repo::kClusterKey);
  if (!raw.ok())
    return fmt::format(
        "'{}': {}", repo::kClusterKey,
        raw.status().IsNotFound() ? "the cluster object is missing" : raw.status().message());
  auto j = nlohmann::json::parse(AsString(*raw), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fmt::format("'{}': the cluster object is not valid JSON", repo::kClusterKey);
  const auto& id = j["system_identifier"];
  const auto& version = j["pg_version"];
  if (!id.is_string() || id.get<std::string>() != newest->system_identifier)
    return fmt::format("'{}': its system identifier is not the backups' ({})", repo::kClusterKey,
                       newest->system_identifier);
  if (!version.is_number_integer() || version.get<int>() != newest->pg_version / 10000)
    return fmt::format("'{}': its PostgreSQL version is not the backups' ({})", repo::kClusterKey,
                       newest->pg_version / 10000);
  if (j.contains("wal_segment_size") &&
      (!j["wal_segment_size"].is_number_unsigned() ||
       j["wal_segment_size"].get<uint64_t>() != newest->wal_segment_size))
    return fmt::format("'{}': its WAL segment size is not the backups' ({})", repo::kClusterKey,
                       newest->wal_segment_size);
  return "";
}

}  // namespace

std::vector<std::string> CheckSmallObjects(repo::Repository& repo) {
  std::vector<std::string> out;
  storage::Storage& st = repo.storage();
  auto records = st.List(repo::kCatalogPrefix);
  if (!records.ok())
    out.push_back(fmt::format("cannot list the catalog: {}", records.status().message()));
  for (const auto& obj : records.ok() ? *records : std::vector<storage::ObjectInfo>{}) {
    // A kind this version does not know was written by a newer one: not ours to judge.
    auto name = repo::ParseCatalogRecordKey(obj.key);
    if (name && !KnownRecordKind(name->kind)) continue;
    auto sealed = st.Get(obj.key);
    Status s = sealed.ok() ? repo::VerifyCatalogRecordObject(repo.codec(), obj.key, *sealed)
                           : sealed.status();
    if (!s.ok()) out.push_back(s.message());
  }
  auto keys = st.List(repo::kKeysPrefix);
  if (!keys.ok())
    out.push_back(fmt::format("cannot list the key objects: {}", keys.status().message()));
  for (const auto& obj : keys.ok() ? *keys : std::vector<storage::ObjectInfo>{}) {
    auto text = st.Get(obj.key);
    Status s = text.ok() ? repo::CheckKeyObject(obj.key, *text) : text.status();
    if (!s.ok()) out.push_back(s.message());
  }
  if (std::string cluster = ClusterProblem(repo); !cluster.empty()) out.push_back(cluster);
  Cap(out, "damaged objects");
  return out;
}

}  // namespace pgvault::verify

#include "repo/wal_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"
#include "repo/layout.h"
#include "storage/replicated/replicated_storage.h"

namespace pgvault::repo {
namespace {

constexpr std::string_view kWalMagic = "PGVWAL01";

std::string WalAad(std::string_view name) { return fmt::format("pgvault-wal:{}", name); }

Result<std::string> KeyFor(std::string_view name) {
  auto key = WalKey(name);
  if (!key)
    return std::move(Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name)))
        .WithHint(
            "archive-push/archive-get take PostgreSQL's %p/%f, e.g. 000000010000000000000001");
  return *key;
}

Result<Bytes> Unseal(Repository& repo, std::string_view name, const std::string& key, ByteView obj,
                     pipeline::Digest& sha) {
  if (obj.size() < kWalMagic.size() || AsString(obj.first(kWalMagic.size())) != kWalMagic)
    return Status::Corruption(fmt::format("WAL object '{}' has no pgvault header", key));
  auto plain = repo.codec().Decode(obj.subspan(kWalMagic.size()), AsBytes(WalAad(name)));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("WAL object '{}' is damaged: {}", key, plain.status().message()));
  Bytes& p = *plain;
  if (p.size() < sha.size())
    return Status::Corruption(fmt::format("WAL object '{}' is truncated", key));
  std::copy(p.begin(), p.begin() + sha.size(), sha.begin());
  Bytes content(p.begin() + sha.size(), p.end());
  if (pipeline::Sha256(content) != sha)
    return Status::Corruption(fmt::format("WAL object '{}' fails its SHA-256 check", key));
  return content;
}

}  // namespace

Result<PushOutcome> PushWal(Repository& repo, std::string_view name, ByteView content,
                            const storage::PutOptions& options) {
  PGV_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  pipeline::Digest sha = pipeline::Sha256(content);
  Bytes plain;
  plain.reserve(sha.size() + content.size());
  Append(plain, sha);
  Append(plain, content);
  Bytes obj(kWalMagic.begin(), kWalMagic.end());
  Append(obj, repo.codec().Encode(plain, AsBytes(WalAad(name))));
  storage::PutOptions put = options;
  put.if_absent = true;
  Status s = repo.storage().Put(key, obj, put);
  if (s.ok()) return PushOutcome::kStored;
  if (s.code() != Code::kConflict) return s.Context(fmt::format("archiving '{}'", name));
  // Already there: fine if it is the same file, an error that changes nothing otherwise.
  PGV_ASSIGN_OR_RETURN(Bytes existing, repo.storage().Get(key));
  pipeline::Digest existing_sha;
  auto old = Unseal(repo, name, key, existing, existing_sha);
  if (!old.ok()) return old.status();
  if (existing_sha == sha) return PushOutcome::kAlreadyArchived;
  return std::move(Status::Conflict(fmt::format("WAL file '{}' is already archived with different "
                                                "content; the repository was not changed",
                                                name)))
      .WithHint(
          "two clusters may be archiving into one repository, or a restored cluster was "
          "promoted without a new timeline; check archive_command on each server");
}

Result<Bytes> GetWal(Repository& repo, std::string_view name) {
  PGV_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  auto obj = repo.storage().Get(key);
  if (!obj.ok()) {
    if (obj.status().IsNotFound())
      return Status::NotFound(fmt::format("WAL file '{}' is not in the repository", name));
    return obj.status();
  }
  pipeline::Digest sha;
  auto content = Unseal(repo, name, key, *obj, sha);
  auto* replicated = dynamic_cast<storage::ReplicatedStorage*>(&repo.storage());
  if (content.ok() || content.status().code() != Code::kCorruption || !replicated) return content;
  // Damaged where it was read: every replica holds the same object, try each.
  for (size_t replica_idx = 0; replica_idx < replicated->size(); ++replica_idx) {
    auto other = replicated->replica(replica_idx).Get(key);
    if (!other.ok()) continue;
    auto good = Unseal(repo, name, key, *other, sha);
    if (good.ok()) {
      log::Warn("{}; read it from '{}' instead", content.status().message(),
                replicated->replica(replica_idx).Describe());
      return good;
    }
  }
  return content;
}

Status VerifyWalObject(Repository& repo, std::string_view key, ByteView object) {
  std::string_view name = key.substr(key.rfind('/') + 1);
  if (WalKey(name).value_or("") != key)
    return Status::Corruption(fmt::format("'{}' is not a WAL object name", key));
  pipeline::Digest sha;
  auto content = Unseal(repo, name, std::string(key), object, sha);
  return content.ok() ? Status::Ok() : content.status();
}

Result<std::vector<WalFileInfo>> ListWal(storage::Storage& storage) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kWalPrefix));
  std::vector<WalFileInfo> out;
  for (const auto& obj : objects) {
    std::string_view key = obj.key;
    size_t slash = key.rfind('/');
    std::string_view name = key.substr(slash + 1);
    if (WalKey(name).value_or("") != key) continue;
    out.push_back({std::string(name), obj.size});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace pgvault::repo

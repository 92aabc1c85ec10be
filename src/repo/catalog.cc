#include "repo/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "pipeline/crypto.h"
#include "repo/layout.h"
#include "repo/repository.h"

namespace pgvault::repo {
namespace {

constexpr std::string_view kKindNames[] = {"verify", "drill", "pin", "walcut"};

std::optional<RecordKind> KindFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kKindNames); ++i)
    if (kKindNames[i] == name) return static_cast<RecordKind>(i);
  return std::nullopt;
}

// The object's own name is its associated data: a record copied under another backup, kind or
// time does not decode.
ByteView Aad(std::string_view key) { return AsBytes(key); }

}  // namespace

std::string_view RecordKindName(RecordKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

Status AppendCatalogRecord(Repository& repo, const CatalogRecord& record) {
  if (!IsValidBackupId(record.backup_id))
    return Status::InvalidArgument(fmt::format("'{}' is not a backup id", record.backup_id));
  Bytes random = pipeline::RandomBytes(4);
  uint32_t nonce = 0;
  std::memcpy(&nonce, random.data(), sizeof nonce);
  std::string key = CatalogRecordKey(record.backup_id, RecordKindName(record.kind),
                                     record.time_unix_micros, nonce);
  std::string text = record.body.dump();
  Bytes sealed = repo.codec().Encode(AsBytes(text), Aad(key));
  return repo.storage()
      .Put(key, sealed, {.if_absent = true})
      .Context(fmt::format("writing catalog record '{}'", key));
}

Status VerifyCatalogRecordObject(const pipeline::Codec& codec, std::string_view key,
                                 ByteView object) {
  auto name = ParseCatalogRecordKey(key);
  if (!name || !KindFromName(name->kind))
    return Status::Corruption(fmt::format("'{}' is not a catalog record name", key));
  auto plain = codec.Decode(object, Aad(key));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("catalog record '{}' is damaged: {}", key, plain.status().message()));
  auto body = nlohmann::json::parse(AsString(*plain), nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return Status::Corruption(fmt::format("catalog record '{}' is not a JSON object", key));
  return Status::Ok();
}

Result<std::vector<CatalogRecord>> ListCatalogRecords(Repository& repo,
                                                      std::string_view backup_id) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(CatalogPrefix(backup_id)));
  std::vector<CatalogRecord> records;
  for (const auto& object : objects) {
    auto name = ParseCatalogRecordKey(object.key);
    auto kind = name ? KindFromName(name->kind) : std::nullopt;
    // A kind this version does not know was written by a newer one: not ours to judge.
    if (!name || !kind || name->backup_id != backup_id) continue;
    PGV_ASSIGN_OR_RETURN(Bytes sealed, repo.storage().Get(object.key, {}));
    PGV_RETURN_IF_ERROR(VerifyCatalogRecordObject(repo.codec(), object.key, sealed));
    auto plain = repo.codec().Decode(sealed, Aad(object.key));
    records.push_back({.backup_id = name->backup_id,
                       .kind = *kind,
                       .time_unix_micros = name->time_unix_micros,
                       .body = nlohmann::json::parse(AsString(*plain))});
  }
  std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.time_unix_micros < b.time_unix_micros;
  });
  return records;
}

std::optional<CatalogRecord> NewestRecord(const std::vector<CatalogRecord>& records,
                                          RecordKind kind) {
  for (auto it = records.rbegin(); it != records.rend(); ++it)
    if (it->kind == kind) return *it;
  return std::nullopt;
}

Status RemoveCatalogRecords(Repository& repo, std::string_view backup_id) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(CatalogPrefix(backup_id)));
  for (const auto& object : objects) {
    Status s = repo.storage().Delete(object.key);
    if (!s.ok() && !s.IsNotFound()) return s.Context("removing catalog records");
  }
  return Status::Ok();
}

}  // namespace pgvault::repo

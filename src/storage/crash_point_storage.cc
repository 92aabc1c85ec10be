#include "storage/crash_point_storage.h"

#include <fmt/format.h>

#include "common/crash_point.h"

namespace pgvault::storage {
namespace {

// A crash point after a write that succeeded (a failed one changed nothing to crash after).
template <typename T>
T Passed(T result, std::string_view op, std::string_view key) {
  if (result.ok()) CrashPoint(fmt::format("{} {}", op, key));
  return result;
}

}  // namespace

Status CrashPointStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  return Passed(target_->Put(key, data, options), "put", key);
}

Result<Bytes> CrashPointStorage::Get(std::string_view key, Range range) {
  return target_->Get(key, range);
}

Result<Bytes> CrashPointStorage::GetChecked(std::string_view key, Range range,
                                            const std::function<Status(ByteView)>& check) {
  return target_->GetChecked(key, range, check);
}

Result<std::vector<ObjectInfo>> CrashPointStorage::List(std::string_view prefix) {
  return target_->List(prefix);
}

Result<ObjectInfo> CrashPointStorage::Stat(std::string_view key) { return target_->Stat(key); }

Status CrashPointStorage::Delete(std::string_view key) {
  return Passed(target_->Delete(key), "delete", key);
}

Result<std::vector<Storage::KeptObject>> CrashPointStorage::DeleteBatch(
    const std::vector<std::string>& keys) {
  std::string what = keys.empty() ? "" : fmt::format("{} keys from {}", keys.size(), keys.front());
  return Passed(target_->DeleteBatch(keys), "delete batch of", what);
}

Status CrashPointStorage::ExtendRetention(std::string_view key, int64_t until_unix) {
  return Passed(target_->ExtendRetention(key, until_unix), "extend retention of", key);
}

Status CrashPointStorage::SetLegalHold(std::string_view key, bool on) {
  return Passed(target_->SetLegalHold(key, on), "set legal hold of", key);
}

Result<std::optional<int64_t>> CrashPointStorage::ServerTimeUnix() {
  return target_->ServerTimeUnix();
}

Result<Storage::AbandonedWrites> CrashPointStorage::RemoveAbandonedWrites(int64_t older_than_unix,
                                                                          bool dry_run) {
  return Passed(target_->RemoveAbandonedWrites(older_than_unix, dry_run), "remove abandoned writes",
                "");
}

}  // namespace pgvault::storage

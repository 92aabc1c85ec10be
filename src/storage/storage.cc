// The defaults of Storage's optional methods, for drivers that do not override them. Apart from
// open.cc so that a Storage can be linked without the drivers (the fuzz targets do).
#include "storage/storage.h"

#include <fmt/format.h>

namespace pgvault::storage {

Status Storage::ExtendRetention(std::string_view key, int64_t) {
  return std::move(
             Status::InvalidArgument(fmt::format(
                 "'{}' in '{}' cannot be locked: the storage has no object lock", key, Describe())))
      .WithHint("use an S3 bucket created with Object Lock enabled and repo-create --object-lock");
}

Status Storage::SetLegalHold(std::string_view key, bool) { return ExtendRetention(key, 0); }

Result<std::vector<Storage::KeptObject>> Storage::DeleteBatch(
    const std::vector<std::string>& keys) {
  for (const auto& key : keys) PGV_RETURN_IF_ERROR(Delete(key));
  return std::vector<KeptObject>{};
}

Result<std::optional<int64_t>> Storage::ServerTimeUnix() { return std::optional<int64_t>(); }

Result<Storage::AbandonedWrites> Storage::RemoveAbandonedWrites(int64_t, bool) {
  return AbandonedWrites{};
}

Result<Bytes> Storage::GetChecked(std::string_view key, Range range,
                                  const std::function<Status(ByteView)>& check) {
  PGV_ASSIGN_OR_RETURN(Bytes data, Get(key, range));
  PGV_RETURN_IF_ERROR(check(data));
  return data;
}

}  // namespace pgvault::storage

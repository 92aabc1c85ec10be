// S3Storage::DeleteBatch: gc's deletion of many packs, by DeleteObjects requests of at most 1000
// keys (DeleteMany). An object that Object Lock protects (COMPLIANCE retention or a legal hold)
// is refused by the server with AccessDenied for that key alone: it is kept and reported, and the
// rest of the batch is deleted. Any other refusal fails the call.
#include <fmt/format.h>

#include "storage/s3/s3_storage.h"

namespace pgvault::storage::s3 {

Result<std::vector<Storage::KeptObject>> S3Storage::DeleteBatch(
    const std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, std::string>> failed;
  PGV_RETURN_IF_ERROR(DeleteMany(keys, &failed));
  std::vector<KeptObject> kept;
  std::string other;
  for (auto& [object, reason] : failed) {
    std::string key = object.starts_with(prefix_) ? object.substr(prefix_.size()) : object;
    if (reason.starts_with("AccessDenied")) {
      kept.push_back({.key = std::move(key), .reason = "locked: " + reason});
    } else if (other.empty()) {
      other = fmt::format("'{}': {}", DisplayName(object), reason);
    }
  }
  if (!other.empty())
    return Status::Io(fmt::format("s3 DeleteObjects in '{}' failed; first {}", Describe(), other));
  return kept;
}

}  // namespace pgvault::storage::s3

// CrashPointStorage: passes a crash point (common/crash_point.h) after every repository write
// that completes, so that the crash tests can kill a command after each of its writes in turn.
// OpenStorage wraps the storage it opens in one only when crash points are armed (tests).
#pragma once

#include <memory>

#include "storage/storage.h"

namespace pgvault::storage {

class CrashPointStorage : public Storage {
 public:
  explicit CrashPointStorage(std::unique_ptr<Storage> target) : target_(std::move(target)) {}
  using Storage::Get;
  using Storage::Put;

  Features features() const override { return target_->features(); }
  std::string Describe() const override { return target_->Describe(); }
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<Bytes> GetChecked(std::string_view key, Range range,
                           const std::function<Status(ByteView)>& check) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<KeptObject>> DeleteBatch(const std::vector<std::string>& keys) override;
  Status ExtendRetention(std::string_view key, int64_t until_unix) override;
  Status SetLegalHold(std::string_view key, bool on) override;
  Result<std::optional<int64_t>> ServerTimeUnix() override;
  Result<AbandonedWrites> RemoveAbandonedWrites(int64_t older_than_unix, bool dry_run) override;

 private:
  std::unique_ptr<Storage> target_;
};

}  // namespace pgvault::storage

// ReplicatedStorage: one logical repository kept in several places (repo1, repo2, ...), for
// example a second region. The replicas hold the same objects (same keys, same bytes), so a
// replica can serve any read and repo-sync can copy objects verbatim.
//   Put/Delete go to every replica. With WritePolicy::kAll the call fails if any replica failed
//   (the others keep what they got: objects are write-once, a retry completes them); with kAny
//   it succeeds when at least one replica took it and logs the others loudly.
//   Get/Stat/List ask the replicas in order and move on when one is unreachable, fails, or lacks
//   the key, so a missing or broken repo1 is served by repo2. "Not found" from a reachable
//   replica while another is down counts as not found only under kAll (then every replica got
//   every object); under kAny it stays the other replica's error, since the object may be there. A
//   GetChecked reads the same way and also moves on when a replica's bytes fail the check
//   (damage), warning which replica served them instead. A
//   replica that answered kUnavailable is skipped for reads during the next kDownSeconds, so a
//   restore does not pay the driver's retries once per block while repo1 is down.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "storage/storage.h"

namespace pgvault::storage {

enum class WritePolicy { kAll, kAny };

class ReplicatedStorage : public Storage {
 public:
  static constexpr int kDownSeconds = 60;
  ReplicatedStorage(std::vector<std::unique_ptr<Storage>> replicas, WritePolicy policy);
  using Storage::Get;
  using Storage::Put;
  Features features() const override;
  std::string Describe() const override;
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<Bytes> GetChecked(std::string_view key, Range range,
                           const std::function<Status(ByteView)>& check) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Status ExtendRetention(std::string_view key, int64_t until_unix) override;
  Status SetLegalHold(std::string_view key, bool on) override;
  // The first replica's server clock: the one written to first.
  Result<std::optional<int64_t>> ServerTimeUnix() override {
    return replicas_[0]->ServerTimeUnix();
  }
  // Every replica's, added up.
  Result<AbandonedWrites> RemoveAbandonedWrites(int64_t older_than_unix, bool dry_run) override;

  size_t size() const { return replicas_.size(); }
  Storage& replica(size_t index) { return *replicas_[index]; }

 private:
  // Replicas to ask for a read, in order: those not marked down, then the down ones.
  std::vector<size_t> ReadOrder() const;
  void Observe(size_t index, const Status& status);
  bool IsDown(size_t index) const;
  Status ReadError(const Status& first_error, bool saw_not_found) const;

  std::vector<std::unique_ptr<Storage>> replicas_;
  WritePolicy policy_;
  std::unique_ptr<std::atomic<int64_t>[]> down_until_;  // monotonic seconds, per replica
};

}  // namespace pgvault::storage

// ReplicatedStorage: one logical repository kept in several places (repo1, repo2, ...), for
// example a second region. The replicas hold the same objects (same keys, same bytes), so a
// replica can serve any read and repo-sync can copy objects verbatim.
//   Put/Delete go to every replica. With WritePolicy::kAll the call fails if any replica failed
//   (the others keep what they got: objects are write-once, a retry completes them); with kAny
//   it succeeds when at least one replica took it and logs the others loudly.
//   Get/Stat/List ask the replicas in order and move on when one is unreachable, fails, or lacks
//   the key, so a missing or broken repo1 is served by repo2.
#pragma once

#include <memory>
#include <vector>

#include "storage/storage.h"

namespace pgvault::storage {

enum class WritePolicy { kAll, kAny };

class ReplicatedStorage : public Storage {
 public:
  ReplicatedStorage(std::vector<std::unique_ptr<Storage>> replicas, WritePolicy policy)
      : replicas_(std::move(replicas)), policy_(policy) {}
  using Storage::Get;
  using Storage::Put;
  Features features() const override;
  std::string Describe() const override;
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Status ExtendRetention(std::string_view key, int64_t until_unix) override;
  Status SetLegalHold(std::string_view key, bool on) override;

  size_t size() const { return replicas_.size(); }
  Storage& replica(size_t index) { return *replicas_[index]; }

 private:
  std::vector<std::unique_ptr<Storage>> replicas_;
  WritePolicy policy_;
};

}  // namespace pgvault::storage

// MemStorage: an in-memory Storage for unit tests. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "storage/storage.h"

namespace pgvault::storage {

class MemStorage : public Storage {
 public:
  using Storage::Get;
  using Storage::Put;
  Features features() const override { return Features{.atomic_if_absent = true}; }
  std::string Describe() const override { return "mem:"; }
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  // Test hook: direct access to stored bytes (e.g. to flip a byte).
  Bytes* Mutable(std::string_view key);

 private:
  std::mutex mu_;
  std::map<std::string, Bytes, std::less<>> objects_;
};

// Forwards every call to a Storage it does not own, so a test can still inspect that storage
// after handing "ownership" to code that takes a unique_ptr<Storage> (e.g. Repository::Open).
class BorrowedStorage : public Storage {
 public:
  explicit BorrowedStorage(Storage& target) : target_(target) {}
  using Storage::Get;
  using Storage::Put;
  Features features() const override { return target_.features(); }
  std::string Describe() const override { return target_.Describe(); }
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override {
    return target_.Put(key, data, options);
  }
  Result<Bytes> Get(std::string_view key, Range range) override { return target_.Get(key, range); }
  Result<Bytes> GetChecked(std::string_view key, Range range,
                           const std::function<Status(ByteView)>& check) override {
    return target_.GetChecked(key, range, check);
  }
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override {
    return target_.List(prefix);
  }
  Result<ObjectInfo> Stat(std::string_view key) override { return target_.Stat(key); }
  Status Delete(std::string_view key) override { return target_.Delete(key); }

 private:
  Storage& target_;
};

}  // namespace pgvault::storage

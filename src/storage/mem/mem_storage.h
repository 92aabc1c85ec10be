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

}  // namespace pgvault::storage

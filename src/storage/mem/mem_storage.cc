#include "storage/mem/mem_storage.h"

#include <fmt/format.h>

#include <algorithm>

namespace pgvault::storage {

Status MemStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end() && options.if_absent)
    return Status::Conflict(fmt::format("'{}' already exists", key));
  objects_[std::string(key)] = Bytes(data.begin(), data.end());
  return Status::Ok();
}

Result<Bytes> MemStorage::Get(std::string_view key, Range range) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound(fmt::format("'{}' does not exist", key));
  const Bytes& b = it->second;
  uint64_t begin = std::min<uint64_t>(range.offset, b.size());
  uint64_t len = std::min<uint64_t>(range.length.value_or(b.size() - begin), b.size() - begin);
  return Bytes(b.begin() + begin, b.begin() + begin + len);
}

Result<std::vector<ObjectInfo>> MemStorage::List(std::string_view prefix) {
  std::lock_guard lock(mu_);
  std::vector<ObjectInfo> out;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.starts_with(prefix); ++it)
    out.push_back({it->first, it->second.size(), 0});
  return out;
}

Result<ObjectInfo> MemStorage::Stat(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound(fmt::format("'{}' does not exist", key));
  return ObjectInfo{it->first, it->second.size(), 0};
}

Status MemStorage::Delete(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end()) objects_.erase(it);
  return Status::Ok();
}

Bytes* MemStorage::Mutable(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : &it->second;
}

}  // namespace pgvault::storage

#include "storage/replicated/replicated_storage.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "common/log.h"

namespace pgvault::storage {

Features ReplicatedStorage::features() const {
  Features f = replicas_[0]->features();
  for (const auto& r : replicas_) {
    Features rf = r->features();
    f.atomic_if_absent = f.atomic_if_absent && rf.atomic_if_absent;
    f.object_lock = f.object_lock && rf.object_lock;
    f.local = f.local && rf.local;
  }
  return f;
}

std::string ReplicatedStorage::Describe() const {
  std::string out = replicas_[0]->Describe();
  for (size_t idx = 1; idx < replicas_.size(); ++idx) out += " + " + replicas_[idx]->Describe();
  return out;
}

Status ReplicatedStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  Status first_error;
  size_t stored = 0;
  bool answered = false;  // the first replica that answers decides about conflicts
  for (size_t idx = 0; idx < replicas_.size(); ++idx) {
    Storage& r = *replicas_[idx];
    Status s = r.Put(key, data, options);
    if (s.code() == Code::kConflict && !answered) {
      // The key exists (if_absent). Make sure every replica holds that same object, never
      // the new bytes, then let the caller judge the conflict (e.g. WAL: same or different?).
      auto existing = r.Get(key);
      if (existing.ok()) {
        for (size_t other = 0; other < replicas_.size(); ++other) {
          if (other == idx) continue;
          Status copied = replicas_[other]->Put(key, *existing, options);
          if (!copied.ok() && copied.code() != Code::kConflict)
            log::Warn("copying '{}' to repository '{}' failed: {}", key,
                      replicas_[other]->Describe(), copied.message());
        }
      }
      return s;
    }
    if (s.ok() || s.code() == Code::kConflict) {
      answered = true;
      stored++;
      continue;
    }
    log::Warn("writing '{}' to repository '{}' failed: {}", key, r.Describe(), s.message());
    if (first_error.ok()) first_error = s.Context(fmt::format("repository '{}'", r.Describe()));
  }
  if (stored == replicas_.size() || (policy_ == WritePolicy::kAny && stored > 0))
    return Status::Ok();
  return first_error;
}

Result<Bytes> ReplicatedStorage::Get(std::string_view key, Range range) {
  Status first_error;
  for (auto& r : replicas_) {
    auto got = r->Get(key, range);
    if (got.ok()) return got;
    if (first_error.ok() || first_error.IsNotFound()) first_error = got.status();
  }
  return first_error;
}

Result<std::vector<ObjectInfo>> ReplicatedStorage::List(std::string_view prefix) {
  // The union: with WritePolicy::kAny a replica may lack what another has.
  std::vector<ObjectInfo> merged;
  Status first_error;
  size_t answered = 0;
  for (auto& r : replicas_) {
    auto list = r->List(prefix);
    if (!list.ok()) {
      if (first_error.ok()) first_error = list.status();
      continue;
    }
    answered++;
    std::vector<ObjectInfo> next;
    std::set_union(merged.begin(), merged.end(), list->begin(), list->end(),
                   std::back_inserter(next),
                   [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    merged = std::move(next);
  }
  if (answered == 0) return first_error;
  return merged;
}

Result<ObjectInfo> ReplicatedStorage::Stat(std::string_view key) {
  Status first_error;
  for (auto& r : replicas_) {
    auto st = r->Stat(key);
    if (st.ok()) return st;
    if (first_error.ok() || first_error.IsNotFound()) first_error = st.status();
  }
  return first_error;
}

Status ReplicatedStorage::Delete(std::string_view key) {
  Status first_error;
  for (auto& r : replicas_) {
    Status s = r->Delete(key);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

Status ReplicatedStorage::ExtendRetention(std::string_view key, int64_t until_unix) {
  for (auto& r : replicas_) PGV_RETURN_IF_ERROR(r->ExtendRetention(key, until_unix));
  return Status::Ok();
}

Status ReplicatedStorage::SetLegalHold(std::string_view key, bool on) {
  for (auto& r : replicas_) PGV_RETURN_IF_ERROR(r->SetLegalHold(key, on));
  return Status::Ok();
}

}  // namespace pgvault::storage

#include "storage/replicated/replicated_storage.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "common/log.h"
#include "common/time.h"

namespace pgvault::storage {

ReplicatedStorage::ReplicatedStorage(std::vector<std::unique_ptr<Storage>> replicas,
                                     WritePolicy policy)
    : replicas_(std::move(replicas)),
      policy_(policy),
      down_until_(new std::atomic<int64_t>[replicas_.size()]) {
  for (size_t idx = 0; idx < replicas_.size(); ++idx) down_until_[idx] = 0;
}

std::vector<size_t> ReplicatedStorage::ReadOrder() const {
  int64_t now = static_cast<int64_t>(MonotonicSeconds());
  std::vector<size_t> up, down;
  for (size_t idx = 0; idx < replicas_.size(); ++idx)
    (down_until_[idx] > now ? down : up).push_back(idx);
  up.insert(up.end(), down.begin(), down.end());
  return up;
}

bool ReplicatedStorage::IsDown(size_t index) const {
  return down_until_[index] > static_cast<int64_t>(MonotonicSeconds());
}

void ReplicatedStorage::Observe(size_t index, const Status& status) {
  if (status.code() == Code::kUnavailable) {
    if (down_until_[index] == 0)
      log::Warn("repository '{}' is unavailable; using the other replicas",
                replicas_[index]->Describe());
    down_until_[index] = static_cast<int64_t>(MonotonicSeconds()) + kDownSeconds;
  } else if (status.ok() || status.IsNotFound()) {
    down_until_[index] = 0;
  }
}

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
    if (policy_ == WritePolicy::kAny &&
        down_until_[idx] > static_cast<int64_t>(MonotonicSeconds())) {
      if (first_error.ok())
        first_error = Status::Unavailable(fmt::format("repository '{}' is down", r.Describe()));
      continue;  // known down: with 'any', do not pay its retries for every object
    }
    Status s = r.Put(key, data, options);
    Observe(idx, s);
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

Status ReplicatedStorage::ReadError(const Status& first_error, bool saw_not_found) const {
  // With WritePolicy::kAll every object reached every replica, so a replica that answers "not
  // found" speaks for all of them even while another is down; with kAny it may not.
  if (saw_not_found && policy_ == WritePolicy::kAll && !first_error.IsNotFound())
    return Status::NotFound(
        fmt::format("not found in the reachable replicas ({})", first_error.message()));
  return first_error;
}

Result<Bytes> ReplicatedStorage::Get(std::string_view key, Range range) {
  return GetChecked(key, range, [](ByteView) { return Status::Ok(); });
}

Result<Bytes> ReplicatedStorage::GetChecked(std::string_view key, Range range,
                                            const std::function<Status(ByteView)>& check) {
  Status first_error;
  Status damage;  // the first check failure: what the caller hears when no replica passes
  bool saw_not_found = false;
  bool answered = false;
  for (size_t idx : ReadOrder()) {
    // Under kAll a replica that answered "not found" speaks for the down ones too.
    if (answered && policy_ == WritePolicy::kAll && IsDown(idx)) continue;
    auto got = replicas_[idx]->Get(key, range);
    Observe(idx, got.status());
    if (got.ok()) {
      Status checked = check(*got);
      if (checked.ok()) {
        if (!damage.ok())
          log::Warn("{}; read it from '{}' instead", damage.message(), replicas_[idx]->Describe());
        return got;
      }
      if (damage.ok()) damage = checked;
      continue;
    }
    saw_not_found |= got.status().IsNotFound();
    answered |= got.status().IsNotFound();
    if (first_error.ok() || first_error.IsNotFound()) first_error = got.status();
  }
  if (!damage.ok()) return damage;
  return ReadError(first_error, saw_not_found);
}

Result<std::vector<ObjectInfo>> ReplicatedStorage::List(std::string_view prefix) {
  // The union: with WritePolicy::kAny a replica may lack what another has.
  std::vector<ObjectInfo> merged;
  Status first_error;
  size_t answered = 0;
  for (size_t idx : ReadOrder()) {
    if (answered > 0 && policy_ == WritePolicy::kAll && IsDown(idx)) continue;
    auto list = replicas_[idx]->List(prefix);
    Observe(idx, list.status());
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
  bool saw_not_found = false;
  bool answered = false;
  for (size_t idx : ReadOrder()) {
    if (answered && policy_ == WritePolicy::kAll && IsDown(idx)) continue;
    auto st = replicas_[idx]->Stat(key);
    Observe(idx, st.status());
    if (st.ok()) return st;
    saw_not_found |= st.status().IsNotFound();
    answered |= st.status().IsNotFound();
    if (first_error.ok() || first_error.IsNotFound()) first_error = st.status();
  }
  return ReadError(first_error, saw_not_found);
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

Result<Storage::AbandonedWrites> ReplicatedStorage::RemoveAbandonedWrites(int64_t older_than_unix,
                                                                          bool dry_run) {
  AbandonedWrites all;
  for (auto& replica : replicas_) {
    PGV_ASSIGN_OR_RETURN(auto one, replica->RemoveAbandonedWrites(older_than_unix, dry_run));
    all.count += one.count;
    all.bytes += one.bytes;
  }
  return all;
}

}  // namespace pgvault::storage

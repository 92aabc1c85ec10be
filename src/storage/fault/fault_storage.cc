#include "storage/fault/fault_storage.h"

#include <algorithm>
#include <thread>

namespace pgvault::storage {

std::string_view StorageOpName(StorageOp op) {
  switch (op) {
    case StorageOp::kPut:
      return "put";
    case StorageOp::kGet:
      return "get";
    case StorageOp::kList:
      return "list";
    case StorageOp::kStat:
      return "stat";
    case StorageOp::kDelete:
      return "delete";
  }
  return "?";
}

void FaultStorage::FailNth(StorageOp op, uint64_t nth, Status status, std::string key_prefix,
                           bool repeat) {
  assert(nth > 0 && !status.ok());  // a rule that never fires or "fails" with OK is a test bug
  std::lock_guard lock(mu_);
  rules_.push_back({op, std::move(key_prefix), nth, repeat, std::move(status)});
}

void FaultStorage::ShortReadNth(uint64_t nth, uint64_t keep_bytes, std::string key_prefix,
                                bool repeat) {
  assert(nth > 0);
  std::lock_guard lock(mu_);
  rules_.push_back(
      {StorageOp::kGet, std::move(key_prefix), nth, repeat, Status::Ok(), true, keep_bytes});
}

void FaultStorage::SetLatency(std::chrono::microseconds latency) {
  std::lock_guard lock(mu_);
  latency_ = latency;
}

void FaultStorage::CrashAfterWrites(uint64_t writes) {
  std::lock_guard lock(mu_);
  writes_until_crash_ = static_cast<int64_t>(writes);
  crashed_ = writes == 0;
}

bool FaultStorage::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

uint64_t FaultStorage::calls(StorageOp op) const {
  std::lock_guard lock(mu_);
  return counts_[static_cast<int>(op)];
}

void FaultStorage::Clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
  writes_until_crash_ = -1;
  crashed_ = false;
}

Status FaultStorage::Before(StorageOp op, std::string_view key, uint64_t* keep_bytes) {
  std::chrono::microseconds latency;
  Status injected;
  {
    std::lock_guard lock(mu_);
    counts_[static_cast<int>(op)]++;
    latency = latency_;
    if (crashed_) {
      injected = Status::Io("simulated crash: the process is gone");
    } else {
      for (auto it = rules_.begin(); it != rules_.end(); ++it) {
        if (it->op != op || !key.starts_with(it->key_prefix)) continue;
        if (it->countdown > 1) {
          it->countdown--;
          continue;
        }
        if (it->short_read) {
          if (keep_bytes) *keep_bytes = it->keep_bytes;
        } else {
          injected =
              it->status.Context(std::string(StorageOpName(op)) + " '" + std::string(key) + "'");
        }
        if (!it->repeat) rules_.erase(it);
        break;
      }
    }
  }
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  return injected;
}

void FaultStorage::AfterWrite(const Status& result) {
  if (!result.ok()) return;
  std::lock_guard lock(mu_);
  if (writes_until_crash_ > 0 && --writes_until_crash_ == 0) crashed_ = true;
}

Status FaultStorage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  PGV_RETURN_IF_ERROR(Before(StorageOp::kPut, key));
  Status s = target_.Put(key, data, options);
  AfterWrite(s);
  return s;
}

Result<Bytes> FaultStorage::Get(std::string_view key, Range range) {
  uint64_t keep = UINT64_MAX;
  PGV_RETURN_IF_ERROR(Before(StorageOp::kGet, key, &keep));
  PGV_ASSIGN_OR_RETURN(Bytes data, target_.Get(key, range));
  if (data.size() > keep) data.resize(keep);
  return data;
}

Result<std::vector<ObjectInfo>> FaultStorage::List(std::string_view prefix) {
  PGV_RETURN_IF_ERROR(Before(StorageOp::kList, prefix));
  return target_.List(prefix);
}

Result<ObjectInfo> FaultStorage::Stat(std::string_view key) {
  PGV_RETURN_IF_ERROR(Before(StorageOp::kStat, key));
  return target_.Stat(key);
}

Status FaultStorage::Delete(std::string_view key) {
  PGV_RETURN_IF_ERROR(Before(StorageOp::kDelete, key));
  Status s = target_.Delete(key);
  AfterWrite(s);
  return s;
}

}  // namespace pgvault::storage

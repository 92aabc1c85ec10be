// FaultStorage: wraps any Storage and injects the failures a real repository meets, so unit
// tests of every command that writes can prove it fails clearly and never corrupts:
//   - fail the Nth call of a kind (optionally only for keys under a prefix) with a given Status
//     (kIo for EIO, "no space left on device" for ENOSPC, kUnavailable for a retryable error);
//   - short reads: the Nth Get returns only the first bytes of what was asked;
//   - latency on every call;
//   - a simulated crash / power cut after N mutating calls: the calls that completed stay (Put is
//     durable on return by contract), every later call fails, as if the process had died there.
// Test-only: built into the pgvault_testing library, never into the binary. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "storage/storage.h"

namespace pgvault::storage {

enum class StorageOp { kPut, kGet, kList, kStat, kDelete };
std::string_view StorageOpName(StorageOp op);

class FaultStorage : public Storage {
 public:
  // target must outlive this wrapper.
  explicit FaultStorage(Storage& target) : target_(target) {}
  using Storage::Get;
  using Storage::Put;

  // The nth (1-based, counted from now) call of op on a key starting with key_prefix fails
  // with status; with repeat, every later matching call fails too.
  void FailNth(StorageOp op, uint64_t nth, Status status, std::string key_prefix = "",
               bool repeat = false);
  // The nth Get from now (on a key under key_prefix) returns at most keep_bytes bytes; with
  // repeat, every later matching Get too.
  void ShortReadNth(uint64_t nth, uint64_t keep_bytes, std::string key_prefix = "",
                    bool repeat = false);
  void SetLatency(std::chrono::microseconds latency);
  // After `writes` more successful Put/Delete calls, every call fails with kIo
  // "simulated crash". crashed() says whether that point was reached.
  void CrashAfterWrites(uint64_t writes);
  bool crashed() const;
  // How many calls of op reached this wrapper (failed ones included).
  uint64_t calls(StorageOp op) const;
  // Removes every rule and the crash point (counters stay).
  void Clear();

  static Status NoSpace() { return Status::Io("no space left on device (simulated ENOSPC)"); }
  static Status Eio() { return Status::Io("input/output error (simulated EIO)"); }

  Features features() const override { return target_.features(); }
  std::string Describe() const override { return target_.Describe(); }
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;

 private:
  struct Rule {
    StorageOp op;
    std::string key_prefix;
    uint64_t countdown;  // matching calls left until it fires
    bool repeat;
    Status status;  // returned when it fires (unused for short reads)
    bool short_read = false;
    uint64_t keep_bytes = 0;
  };
  // Counts the call and returns the failure to inject, if any; *keep_bytes is set when a short
  // read fires.
  Status Before(StorageOp op, std::string_view key, uint64_t* keep_bytes = nullptr);
  void AfterWrite(const Status& result);

  Storage& target_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  uint64_t counts_[5] = {};
  std::chrono::microseconds latency_{0};
  int64_t writes_until_crash_ = -1;  // -1: no crash point
  bool crashed_ = false;
};

}  // namespace pgvault::storage

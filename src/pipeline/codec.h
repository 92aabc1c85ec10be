// Codec: the compress-then-encrypt stage every stored blob (block, WAL segment, manifest part,
// pack trailer) goes through. Layout (docs/repository-format.md, "Blob"):
//   inner  = u8 compression | u32 raw_size | payload
//   sealed = AES-256-GCM(inner, aad)               when the repository is encrypted
//          = inner | u32 crc32(aad || inner)      when it is not
// The aad binds a blob to its name (block id, WAL name, ...) so blobs cannot be swapped.
#pragma once

#include <atomic>
#include <functional>
#include <optional>

#include "common/bytes.h"
#include "common/status.h"
#include "pipeline/compress.h"
#include "pipeline/crypto.h"

namespace pgvault::pipeline {

// CPU time spent per stage, in nanoseconds; shared by worker threads.
struct StageTimes {
  std::atomic<int64_t> read_ns{0}, hash_ns{0}, compress_ns{0}, encrypt_ns{0}, write_ns{0};
};

// Nanoseconds of CPU used by the calling thread so far.
int64_t ThreadCpuNanos();

class Codec {
 public:
  // data_key empty = unencrypted repository.
  Codec(std::optional<SecretKey> data_key, Compression compression, int level)
      : data_key_(std::move(data_key)), compression_(compression), level_(level) {}

  Bytes Encode(ByteView plaintext, ByteView aad, StageTimes* times = nullptr) const;
  // Appends the sealed blob to out, with one copy of the compressed bytes and none of the
  // sealed ones (WAL segments: 16 MiB in, several MiB out).
  void EncodeAppend(ByteView plaintext, ByteView aad, Bytes& out,
                    StageTimes* times = nullptr) const;
  // kCorruption on any mismatch; the message says what failed, the caller adds which object.
  Result<Bytes> Decode(ByteView sealed, ByteView aad) const;
  // Decode handing the plaintext to sink in pieces (DecompressTo); the whole blob is
  // authenticated before the first piece.
  Status DecodeTo(ByteView sealed, ByteView aad, const std::function<Status(ByteView)>& sink) const;
  bool encrypted() const { return data_key_.has_value(); }
  Compression compression() const { return compression_; }

 private:
  struct Inner {
    Compression type = Compression::kNone;
    uint32_t raw_size = 0;
    ByteView payload;
  };
  Status Unseal(ByteView sealed, ByteView aad, Bytes& inner_buf, Inner& inner) const;

  std::optional<SecretKey> data_key_;
  Compression compression_;
  int level_;
};

}  // namespace pgvault::pipeline

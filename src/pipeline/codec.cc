#include "pipeline/codec.h"

#include <time.h>
#include <zlib.h>

namespace pgvault::pipeline {
namespace {

constexpr size_t kInnerHeader = 5;

uint32_t Crc(ByteView aad, ByteView data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, aad.data(), aad.size());
  return static_cast<uint32_t>(crc32_z(crc, data.data(), data.size()));
}

}  // namespace

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Bytes Codec::Encode(ByteView plaintext, ByteView aad, StageTimes* times) const {
  Bytes out;
  EncodeAppend(plaintext, aad, out, times);
  return out;
}

void Codec::EncodeAppend(ByteView plaintext, ByteView aad, Bytes& out, StageTimes* times) const {
  int64_t t0 = times ? ThreadCpuNanos() : 0;
  // Room for the worst case (stored uncompressed) up front: no reallocation while appending.
  out.reserve(out.size() + kNonceSize + kInnerHeader + plaintext.size() + kTagSize + 4);
  if (data_key_) out.resize(out.size() + kNonceSize);
  size_t inner_at = out.size();
  out.resize(inner_at + kInnerHeader);
  bool compressed = Compress(compression_, level_, plaintext, out);
  if (!compressed) Append(out, plaintext);
  out[inner_at] = static_cast<uint8_t>(compressed ? compression_ : Compression::kNone);
  uint32_t raw = static_cast<uint32_t>(plaintext.size());
  for (int byte_idx = 0; byte_idx < 4; ++byte_idx)
    out[inner_at + 1 + byte_idx] = (raw >> (8 * byte_idx)) & 0xff;
  int64_t t1 = times ? ThreadCpuNanos() : 0;
  if (data_key_) {
    SealInPlace(*data_key_, out, inner_at, aad);
  } else {
    uint32_t crc = Crc(aad, ByteView(out).subspan(inner_at));
    Encoder(out).U32(crc);
  }
  if (times) {
    int64_t t2 = ThreadCpuNanos();
    times->compress_ns += t1 - t0;
    times->encrypt_ns += t2 - t1;
  }
}

// The inner blob of a sealed one (authenticated, or its CRC checked), its compression type and
// its raw size; inner_buf owns the decrypted bytes when the repository is encrypted.
Status Codec::Unseal(ByteView sealed, ByteView aad, Bytes& inner_buf, Inner& inner) const {
  ByteView bytes;
  if (data_key_) {
    auto opened = Open(*data_key_, sealed, aad);
    if (!opened.ok()) return opened.status();
    inner_buf = std::move(opened).value();
    bytes = inner_buf;
  } else {
    if (sealed.size() < kInnerHeader + 4) return Status::Corruption("blob is truncated");
    bytes = sealed.first(sealed.size() - 4);
    uint32_t stored;
    Decoder(sealed.last(4)).U32(stored);
    if (stored != Crc(aad, bytes)) return Status::Corruption("crc32 mismatch");
  }
  if (bytes.size() < kInnerHeader) return Status::Corruption("blob is truncated");
  Decoder d(bytes);
  uint8_t type;
  d.U8(type);
  d.U32(inner.raw_size);
  if (type > static_cast<uint8_t>(Compression::kLz4))
    return Status::Corruption("unknown compression");
  inner.type = static_cast<Compression>(type);
  inner.payload = bytes.subspan(kInnerHeader);
  // Before anything is sized by the blob's word.
  return CheckDecompressedSize(inner.type, inner.payload.size(), inner.raw_size);
}

Result<Bytes> Codec::Decode(ByteView sealed, ByteView aad) const {
  Bytes inner_buf;
  Inner inner;
  PGV_RETURN_IF_ERROR(Unseal(sealed, aad, inner_buf, inner));
  Bytes out;
  PGV_RETURN_IF_ERROR(Decompress(inner.type, inner.payload, inner.raw_size, out));
  return out;
}

Status Codec::DecodeTo(ByteView sealed, ByteView aad,
                       const std::function<Status(ByteView)>& sink) const {
  Bytes inner_buf;
  Inner inner;
  PGV_RETURN_IF_ERROR(Unseal(sealed, aad, inner_buf, inner));
  return DecompressTo(inner.type, inner.payload, inner.raw_size, sink);
}

}  // namespace pgvault::pipeline

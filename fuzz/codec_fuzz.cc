// Codec::Decode of a blob, unencrypted and encrypted with a known key. The first input byte picks:
//   bit 0: encrypted (AES-256-GCM, a fixed key) or not (CRC-32);
//   bit 1: the rest is the sealed blob as stored, or the inner blob (u8 compression |
//          u32 raw size | payload) sealed here with the key, so that decompression of hostile
//          inner blobs is reached behind the tag or checksum.
// Decode must return the plaintext or kCorruption, never crash, and never allocate more than
// the input can produce.
#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "pipeline/codec.h"
#include "pipeline/crypto.h"

using namespace pgvault;

namespace {

constexpr std::string_view kAad = "pgvault-fuzz";

pipeline::SecretKey FixedKey() {
  Bytes key(pipeline::kKeySize);
  for (size_t byte_idx = 0; byte_idx < key.size(); ++byte_idx)
    key[byte_idx] = static_cast<uint8_t>(byte_idx * 7 + 1);
  return pipeline::SecretKey(key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pipeline::SecretKey key = FixedKey();
  static const pipeline::Codec plain(std::nullopt, pipeline::Compression::kZstd, 3);
  static const pipeline::Codec encrypted(key, pipeline::Compression::kZstd, 3);
  if (size < 1) return 0;
  const bool encrypt = data[0] & 1;
  const bool seal_here = data[0] & 2;
  ByteView rest(data + 1, size - 1);
  const pipeline::Codec& codec = encrypt ? encrypted : plain;
  Bytes sealed;
  if (!seal_here) {
    sealed.assign(rest.begin(), rest.end());
  } else if (encrypt) {
    sealed = pipeline::Seal(key, rest, AsBytes(kAad));
  } else {
    sealed.assign(rest.begin(), rest.end());
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(kAad.data()), kAad.size());
    crc = crc32_z(crc, sealed.data(), sealed.size());
    Encoder(sealed).U32(static_cast<uint32_t>(crc));
  }
  auto decoded = codec.Decode(sealed, AsBytes(kAad));
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == Code::kCorruption);
    FUZZ_CHECK(
        codec.DecodeTo(sealed, AsBytes(kAad), [](ByteView) { return Status::Ok(); }).code() ==
        Code::kCorruption);
    return 0;
  }
  // DecodeTo (WAL segments written while they are decoded) agrees with Decode.
  Bytes streamed;
  Status to = codec.DecodeTo(sealed, AsBytes(kAad), [&](ByteView piece) {
    Append(streamed, piece);
    return Status::Ok();
  });
  FUZZ_CHECK(to.ok() && streamed == *decoded);
  // What decodes encodes and decodes to the same bytes.
  auto again = codec.Decode(codec.Encode(*decoded, AsBytes(kAad)), AsBytes(kAad));
  FUZZ_CHECK(again.ok() && *again == *decoded);
  return 0;
}

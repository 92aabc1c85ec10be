// A pack's trailer index (DecodePackIndex), two ways, chosen by the first input byte:
//   even: the rest is a pack's last bytes as stored (magic, size field, sealed trailer);
//   odd:  the rest is a trailer's plaintext, sealed here as PackWriter seals it, so the index
//         decoding behind the checksum is reached too.
// The pack's size is the tail plus a data area of up to 64 KiB (second byte * 256).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "repo/pack.h"

using namespace pgvault;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pipeline::Codec codec(std::nullopt, pipeline::Compression::kNone, 0);
  if (size < 2) return 0;
  const bool seal = data[0] & 1;
  const uint64_t data_area = static_cast<uint64_t>(data[1]) * 256;
  ByteView rest(data + 2, size - 2);
  repo::PackId id{};
  id[0] = 0x77;
  Bytes tail;
  if (seal) {
    tail = codec.Encode(rest, AsBytes(repo::PackTrailerAad(id)));
    Encoder(tail).U32(static_cast<uint32_t>(tail.size()));
    Append(tail, AsBytes("PGVPACK1"));
  } else {
    tail.assign(rest.begin(), rest.end());
  }
  auto index = repo::DecodePackIndex(codec, id, tail, tail.size() + data_area);
  if (!index.ok()) {
    FUZZ_CHECK(index.status().code() == Code::kCorruption);
    return 0;
  }
  // An accepted index covers the data area exactly, in order.
  uint64_t offset = 0;
  for (const auto& e : index->entries) {
    FUZZ_CHECK(e.offset == offset);
    offset += e.size;
  }
  FUZZ_CHECK(offset == index->data_size);
  return 0;
}

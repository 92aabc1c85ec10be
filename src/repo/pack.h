// Packs: write-once objects holding many sealed blocks, followed by a sealed trailer index so a
// pack can be checked or salvaged on its own (docs/repository-format.md, "Pack").
//   blob_0 .. blob_n | sealed trailer | u32 trailer_size | "PGVPACK1"
// A full block's blob is Codec::Encode(block, aad = id); a delta block's is
// Codec::Encode(zstd frame against its base, aad = id || base id). The trailer lists
// (id, offset, size, kind[, base id and location]).
#pragma once

#include <optional>
#include <vector>

#include "pipeline/codec.h"
#include "repo/layout.h"
#include "storage/storage.h"

namespace pgvault::repo {

// Where a block lives. A manifest stores one per stored block, so restore needs no index.
struct BlockLocation {
  PackId pack{};
  uint32_t offset = 0;
  uint32_t size = 0;  // sealed size
};

// One blob as a pack's trailer index lists it.
struct PackIndexEntry {
  pipeline::Digest id{};
  uint32_t offset = 0, size = 0;
  bool delta = false;
  pipeline::Digest base_id{};
  BlockLocation base_loc;
};

struct PackStats {
  uint64_t packs_written = 0;
  uint64_t bytes_written = 0;      // sealed bytes of new blocks (what the repository grew by)
  uint64_t raw_bytes_written = 0;  // plaintext bytes of those blocks
  uint64_t blocks_written = 0;
};

// Collects blocks and writes a pack when it reaches the target size. Not thread-safe: each
// worker owns one. A location returned by Add is valid only after the next Flush succeeds.
class PackWriter {
 public:
  PackWriter(storage::Storage& storage, const pipeline::Codec& codec, uint64_t target_size,
             pipeline::StageTimes* times)
      : storage_(storage), codec_(codec), target_size_(target_size), times_(times) {}
  Result<BlockLocation> Add(const pipeline::Digest& id, ByteView plaintext);
  // A delta block: frame is pipeline::DeltaEncode(base plaintext, block); raw_size the block's.
  Result<BlockLocation> AddDelta(const pipeline::Digest& id, ByteView frame, size_t raw_size,
                                 const pipeline::Digest& base_id, const BlockLocation& base_loc);
  // A blob copied unchanged from another pack (gc --repack): entry gives its id, kind and base
  // (the base's location as its manifests name it); raw bytes are not counted.
  Result<BlockLocation> AddSealed(const PackIndexEntry& entry, ByteView sealed);
  Status Flush();
  const PackStats& stats() const { return stats_; }
  // Options for every pack written from now on (e.g. an object-lock retention).
  void set_put_options(const storage::PutOptions& options) { put_options_ = options; }

 private:
  struct Entry {
    pipeline::Digest id;
    uint32_t offset, size;
    bool delta = false;
    pipeline::Digest base_id{};
    BlockLocation base_loc;
  };
  Result<BlockLocation> Append(Entry entry, ByteView sealed, size_t raw_size);
  storage::Storage& storage_;
  const pipeline::Codec& codec_;
  uint64_t target_size_;
  pipeline::StageTimes* times_;
  PackId current_{};
  Bytes buffer_;
  std::vector<Entry> entries_;
  PackStats stats_;
  storage::PutOptions put_options_;
};

std::string PackTrailerAad(const PackId& id);

// A stored pack as listed (Repository::ListPacks).
struct ListedPack {
  PackId id;
  storage::ObjectInfo object;
};

// Whether decoding recomputes the block id (HMAC-SHA-256 of the plaintext) to compare it.
// In an encrypted repository the blob is AES-256-GCM sealed with the id as associated data, so
// the tag already proves that these bytes were stored under this id by a holder of the key;
// recomputing the HMAC adds nothing against damage or tampering and was a third of restore's
// CPU. Restore skips it there (kUnlessAuthenticated); verification paths keep kAlways, and an
// unencrypted repository (CRC-32, not a MAC) always checks.
enum class IdCheck { kAlways, kUnlessAuthenticated };

// Decodes one blob read from a pack and checks that its plaintext hashes to id.
// kCorruption names the pack and offset.
Result<Bytes> DecodeBlock(const pipeline::Codec& codec, pipeline::Hmac& hmac,
                          const pipeline::Digest& id, const BlockLocation& loc, ByteView sealed,
                          IdCheck check = IdCheck::kAlways);
Bytes DeltaAad(const pipeline::Digest& id, const pipeline::Digest& base_id);
// The same for a delta blob, given its base block's plaintext.
Result<Bytes> DecodeDeltaBlock(const pipeline::Codec& codec, pipeline::Hmac& hmac,
                               const pipeline::Digest& id, const BlockLocation& loc,
                               const pipeline::Digest& base_id, ByteView sealed, ByteView base,
                               IdCheck check = IdCheck::kAlways);

// Checks a delta blob without its base: the sealed frame decodes under (id, base id), which
// AES-GCM authenticates (CRC-32 when unencrypted). kCorruption naming the pack and offset.
Status CheckDeltaBlob(const pipeline::Codec& codec, const pipeline::Digest& id,
                      const pipeline::Digest& base_id, const BlockLocation& loc, ByteView sealed);

// A pack's trailer index, decoded.
struct PackIndex {
  uint64_t data_size = 0;               // bytes before the trailer: the blobs
  std::vector<PackIndexEntry> entries;  // in offset order
};
// Decodes the trailer from the pack's last bytes (tail, at least the trailer, its size field and
// the magic) of a pack of pack_size bytes, and checks that the blobs it lists fill the data area
// exactly, in order, without gaps or overlaps. kCorruption naming the pack.
Result<PackIndex> DecodePackIndex(const pipeline::Codec& codec, const PackId& id, ByteView tail,
                                  uint64_t pack_size);
// Reads only the pack's trailer (two ranged reads) and decodes it as above.
Result<PackIndex> ReadPackIndex(storage::Storage& storage, const pipeline::Codec& codec,
                                const PackId& id, uint64_t pack_size);

// Checks a whole pack object: magic, trailer, and every block against its id. Delta blocks read
// their base from storage.
Status VerifyPack(storage::Storage& storage, const pipeline::Codec& codec, pipeline::Hmac& hmac,
                  const PackId& id, ByteView pack);
}  // namespace pgvault::repo

// BlockReader: turns a file's block references back into plaintext, for restore and for the
// bases that delta encoding needs at backup time. Neighbouring blobs of one pack are fetched with
// one ranged read (at most kWorkUnitBytes); every block is decrypted, decompressed, delta-applied
// and checked against its keyed id. With replicas (--repo2), a block that is damaged in one is
// read from the next. Memory grows with the range asked for: callers read a file
// in slices (kWorkUnitBytes of blocks). A pack that `gc --repack` moved (it is missing and has a
// redirect, redirect.h) is read where its redirect says, the redirect read once per reader.
// Not thread-safe: one per worker.
#pragma once

#include <functional>
#include <map>
#include <tuple>
#include <vector>

#include "common/work_unit.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/redirect.h"
#include "repo/repository.h"

namespace pgvault::repo {

class BlockReader {
 public:
  // check: restore and backup trust the GCM tag (pack.h, IdCheck); verify passes kAlways.
  BlockReader(storage::Storage& storage, const pipeline::Codec& codec,
              const pipeline::SecretKey& id_key, IdCheck check = IdCheck::kUnlessAuthenticated)
      : storage_(storage),
        codec_(codec),
        hmac_(id_key),
        check_(check),
        redirects_(storage, codec) {}

  // Calls fn(index, plaintext) for every non-zero block in refs[first, first + count), in order.
  // kCorruption names the pack and offset of a bad block; fn's errors are passed through.
  Status Read(const std::vector<BlockRef>& refs, size_t first, size_t count,
              const std::function<Status(size_t index, Bytes& plaintext)>& fn);

  uint64_t requests() const { return requests_; }

 private:
  struct Blob {
    PackId pack;
    uint32_t offset, size;
    bool operator<(const Blob& o) const {
      return std::tie(pack, offset, size) < std::tie(o.pack, o.offset, o.size);
    }
  };
  // Reads the blobs (sorted by where) with one ranged read per run of touching blobs, into
  // fetched under their manifest location (what). Blobs of a missing pack go to missing.
  struct Fetch {
    Blob what, where;
  };
  Status FetchRuns(const std::vector<Fetch>& blobs, std::vector<Bytes>& reads,
                   std::map<Blob, ByteView>& fetched, std::vector<Fetch>* missing);
  Result<Bytes> Decode(const BlockRef& b, std::map<Blob, ByteView>& fetched,
                       std::map<Blob, Bytes>& bases);
  // A block that failed to verify is read again blob by blob through Storage::GetChecked, so a
  // storage with replicas can serve it from one that holds it undamaged; damage when none does.
  Result<Bytes> Reread(const BlockRef& b, const Status& damage);
  // One blob read with GetChecked: decode is the check, its plaintext the result.
  Result<Bytes> ReadBlob(const BlockLocation& loc,
                         const std::function<Result<Bytes>(ByteView)>& decode);

  storage::Storage& storage_;
  const pipeline::Codec& codec_;
  pipeline::Hmac hmac_;
  IdCheck check_;
  RedirectCache redirects_;
  uint64_t requests_ = 0;
};

}  // namespace pgvault::repo

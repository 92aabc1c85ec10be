// Redirect objects: where `gc --repack` copied the live blocks of a pack it repacked
// (docs/repository-format.md, "Redirect"). Manifests are write-once and keep naming a block by its
// original location (pack, offset, size); a redirect maps such a location to the pack that holds
// the block now. One object per repacked pack and generation:
//   "PGVMOVE1" | sealed(u32 count, count x entry), aad = RedirectAad(old pack)
//   entry = u32 old offset | u32 size | id[32] | new pack[16] | u32 new offset
// Entries are sorted by old offset; the size is that of the sealed blob, copied unchanged. A later
// repack of a pack that holds moved blocks writes the next generation for the original pack, so a
// block is reached through one redirect at most (no chains) and the highest generation is current.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "pipeline/codec.h"
#include "repo/layout.h"
#include "repo/pack.h"
#include "storage/storage.h"

namespace pgvault::repo {

struct RedirectEntry {
  uint32_t old_offset = 0, size = 0;
  pipeline::Digest id{};
  PackId pack{};  // where the blob is now
  uint32_t offset = 0;
};

struct Redirect {
  PackId old_pack{};
  uint32_t generation = 1;
  std::vector<RedirectEntry> entries;  // by old_offset
  // The entry of the block at (old_offset, size) of old_pack; null when the redirect does not
  // list it.
  const RedirectEntry* Find(uint32_t old_offset, uint32_t size) const;
};

Bytes EncodeRedirect(const pipeline::Codec& codec, const Redirect& redirect);
// kCorruption naming the key when data is not the redirect that key names.
Result<Redirect> DecodeRedirect(const pipeline::Codec& codec, std::string_view key, ByteView data);
// Writes the redirect (if_absent, write-once) with options (e.g. a retention).
Status WriteRedirect(storage::Storage& storage, const pipeline::Codec& codec,
                     const Redirect& redirect, const storage::PutOptions& options = {});
// The current (highest generation) redirect of old_pack; nullopt when it has none.
Result<std::optional<Redirect>> ReadCurrentRedirect(storage::Storage& storage,
                                                    const pipeline::Codec& codec,
                                                    const PackId& old_pack);

// Every redirect object under packs/, sorted by key (so by pack, then generation).
struct ListedRedirect {
  RedirectName name;
  storage::ObjectInfo object;
};
Result<std::vector<ListedRedirect>> ListRedirects(storage::Storage& storage);

// The objects that hold a moved pack's blocks now: its current redirect, then the packs that
// redirect points into (to lock or hold them in its place). kNotFound naming the pack when it has
// no redirect.
// fn(PackKey(pack)); when that finds no pack (gc --repack moved it), fn of each MovedPackKeys
// object instead, so that a lock or hold lands where the pack's blocks are now.
Status ForPackOrWhereItMoved(storage::Storage& storage, const pipeline::Codec& codec,
                             const PackId& pack,
                             const std::function<Status(const std::string&)>& fn);
Result<std::vector<std::string>> MovedPackKeys(storage::Storage& storage,
                                               const pipeline::Codec& codec, const PackId& pack);

// Looks redirects up once per pack for a reader that met a missing pack. Not thread-safe.
class RedirectCache {
 public:
  RedirectCache(storage::Storage& storage, const pipeline::Codec& codec)
      : storage_(storage), codec_(codec) {}
  // The current redirect of pack, or null when it has none (cached either way).
  Result<const Redirect*> Of(const PackId& pack);
  // Where the block at loc is now: loc's pack has a redirect that lists it. kCorruption naming
  // the pack when the pack has no redirect or the redirect does not list the block.
  Result<BlockLocation> Resolve(const BlockLocation& loc);
  // Whether pack is known to have been moved (no storage request).
  bool KnownMoved(const PackId& pack) const;

 private:
  storage::Storage& storage_;
  const pipeline::Codec& codec_;
  std::map<PackId, std::unique_ptr<Redirect>> cache_;  // null: no redirect
};

}  // namespace pgvault::repo

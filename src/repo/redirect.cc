#include "repo/redirect.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace pgvault::repo {

namespace {

constexpr std::string_view kRedirectMagic = "PGVMOVE1";
constexpr size_t kEntryBytes = 4 + 4 + 32 + 16 + 4;

std::string RedirectAad(const PackId& old_pack, uint32_t generation) {
  return fmt::format("pgvault-redirect:{}:{}", ToHex(old_pack), generation);
}

}  // namespace

const RedirectEntry* Redirect::Find(uint32_t old_offset, uint32_t size) const {
  auto it = std::lower_bound(
      entries.begin(), entries.end(), old_offset,
      [](const RedirectEntry& e, uint32_t offset) { return e.old_offset < offset; });
  if (it == entries.end() || it->old_offset != old_offset || it->size != size) return nullptr;
  return &*it;
}

Bytes EncodeRedirect(const pipeline::Codec& codec, const Redirect& redirect) {
  Bytes body;
  Encoder enc(body);
  enc.U32(static_cast<uint32_t>(redirect.entries.size()));
  for (const RedirectEntry& e : redirect.entries) {
    enc.U32(e.old_offset);
    enc.U32(e.size);
    enc.Raw(e.id);
    enc.Raw(e.pack);
    enc.U32(e.offset);
  }
  Bytes out(kRedirectMagic.begin(), kRedirectMagic.end());
  codec.EncodeAppend(body, AsBytes(RedirectAad(redirect.old_pack, redirect.generation)), out);
  return out;
}

Result<Redirect> DecodeRedirect(const pipeline::Codec& codec, std::string_view key, ByteView data) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(fmt::format("redirect '{}' {}", key, why));
  };
  auto name = ParseRedirectKey(key);
  if (!name) return bad("has no redirect name");
  if (data.size() < kRedirectMagic.size() ||
      AsString(data.first(kRedirectMagic.size())) != kRedirectMagic)
    return bad("has no redirect magic");
  auto body = codec.Decode(data.subspan(kRedirectMagic.size()),
                           AsBytes(RedirectAad(name->old_pack, name->generation)));
  if (!body.ok()) return bad(fmt::format("cannot be decoded: {}", body.status().message()));
  Redirect r{.old_pack = name->old_pack, .generation = name->generation};
  Decoder dec(*body);
  uint32_t count = 0;
  if (!dec.U32(count) || count > dec.remaining() / kEntryBytes) return bad("is truncated");
  r.entries.resize(count);
  for (RedirectEntry& e : r.entries) {
    ByteView id, pack;
    if (!dec.U32(e.old_offset) || !dec.U32(e.size) || !dec.Raw(32, id) || !dec.Raw(16, pack) ||
        !dec.U32(e.offset))
      return bad("is truncated");
    std::copy(id.begin(), id.end(), e.id.begin());
    std::copy(pack.begin(), pack.end(), e.pack.begin());
    if (e.pack == r.old_pack) return bad("points into its own pack");
  }
  if (!dec.done()) return bad("has trailing bytes");
  for (size_t idx = 1; idx < r.entries.size(); ++idx)
    if (r.entries[idx].old_offset <= r.entries[idx - 1].old_offset)
      return bad("lists its blocks out of order");
  return r;
}

Status WriteRedirect(storage::Storage& storage, const pipeline::Codec& codec,
                     const Redirect& redirect, const storage::PutOptions& options) {
  storage::PutOptions put = options;
  put.if_absent = true;
  std::string key = RedirectKey(redirect.old_pack, redirect.generation);
  return storage.Put(key, EncodeRedirect(codec, redirect), put)
      .Context(fmt::format("writing redirect '{}'", key));
}

Result<std::optional<Redirect>> ReadCurrentRedirect(storage::Storage& storage,
                                                    const pipeline::Codec& codec,
                                                    const PackId& old_pack) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(RedirectPrefix(old_pack)));
  std::optional<RedirectName> newest;
  std::string newest_key;
  for (const auto& obj : objects) {
    auto name = ParseRedirectKey(obj.key);
    if (!name || name->old_pack != old_pack) continue;
    if (!newest || name->generation > newest->generation) newest = name, newest_key = obj.key;
  }
  if (!newest) return std::optional<Redirect>();
  PGV_ASSIGN_OR_RETURN(Bytes data, storage.Get(newest_key));
  PGV_ASSIGN_OR_RETURN(Redirect r, DecodeRedirect(codec, newest_key, data));
  return std::optional<Redirect>(std::move(r));
}

Result<std::vector<ListedRedirect>> ListRedirects(storage::Storage& storage) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kPacksPrefix));
  std::vector<ListedRedirect> out;
  for (auto& obj : objects)
    if (auto name = ParseRedirectKey(obj.key)) out.push_back({*name, std::move(obj)});
  return out;
}

Result<std::vector<std::string>> MovedPackKeys(storage::Storage& storage,
                                               const pipeline::Codec& codec, const PackId& pack) {
  PGV_ASSIGN_OR_RETURN(auto redirect, ReadCurrentRedirect(storage, codec, pack));
  if (!redirect)
    return Status::NotFound(fmt::format("pack '{}' is missing from the repository", PackKey(pack)));
  std::vector<std::string> keys = {RedirectKey(pack, redirect->generation)};
  std::set<PackId> targets;
  for (const auto& e : redirect->entries) targets.insert(e.pack);
  for (const auto& target : targets) keys.push_back(PackKey(target));
  return keys;
}

Status ForPackOrWhereItMoved(storage::Storage& storage, const pipeline::Codec& codec,
                             const PackId& pack,
                             const std::function<Status(const std::string&)>& fn) {
  Status s = fn(PackKey(pack));
  if (!s.IsNotFound()) return s;
  PGV_ASSIGN_OR_RETURN(auto keys, MovedPackKeys(storage, codec, pack));
  for (const auto& key : keys) PGV_RETURN_IF_ERROR(fn(key));
  return Status::Ok();
}

Result<const Redirect*> RedirectCache::Of(const PackId& pack) {
  auto it = cache_.find(pack);
  if (it == cache_.end()) {
    PGV_ASSIGN_OR_RETURN(auto found, ReadCurrentRedirect(storage_, codec_, pack));
    it =
        cache_.emplace(pack, found ? std::make_unique<Redirect>(std::move(*found)) : nullptr).first;
  }
  return static_cast<const Redirect*>(it->second.get());
}

bool RedirectCache::KnownMoved(const PackId& pack) const {
  auto it = cache_.find(pack);
  return it != cache_.end() && it->second != nullptr;
}

Result<BlockLocation> RedirectCache::Resolve(const BlockLocation& loc) {
  PGV_ASSIGN_OR_RETURN(const Redirect* r, Of(loc.pack));
  if (!r)
    return Status::Corruption(
        fmt::format("pack '{}' is missing from the repository", PackKey(loc.pack)));
  auto moved = r->Find(loc.offset, loc.size);
  if (!moved)
    return Status::Corruption(
        fmt::format("block at offset {} of pack '{}' was not kept when the pack was repacked "
                    "(its redirect '{}' does not list it)",
                    loc.offset, PackKey(loc.pack), RedirectKey(loc.pack, r->generation)));
  return BlockLocation{.pack = moved->pack, .offset = moved->offset, .size = moved->size};
}

}  // namespace pgvault::repo

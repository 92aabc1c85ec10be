#include "repo/pack.h"

#include <fmt/format.h>

#include <algorithm>

#include "pipeline/delta.h"
#include "repo/redirect.h"

namespace pgvault::repo {

constexpr std::string_view kPackMagic = "PGVPACK1";

std::string PackTrailerAad(const PackId& id) { return "pgvault-pack-trailer:" + ToHex(id); }

Bytes DeltaAad(const pipeline::Digest& id, const pipeline::Digest& base_id) {
  Bytes aad(id.begin(), id.end());
  aad.insert(aad.end(), base_id.begin(), base_id.end());
  return aad;
}

Result<BlockLocation> PackWriter::Add(const pipeline::Digest& id, ByteView plaintext) {
  return Append(Entry{.id = id}, codec_.Encode(plaintext, id, times_), plaintext.size());
}

Result<BlockLocation> PackWriter::AddDelta(const pipeline::Digest& id, ByteView frame,
                                           size_t raw_size, const pipeline::Digest& base_id,
                                           const BlockLocation& base_loc) {
  Entry entry{.id = id, .delta = true, .base_id = base_id, .base_loc = base_loc};
  return Append(entry, codec_.Encode(frame, DeltaAad(id, base_id), times_), raw_size);
}

Result<BlockLocation> PackWriter::AddSealed(const PackIndexEntry& e, ByteView sealed) {
  Entry entry{.id = e.id, .delta = e.delta, .base_id = e.base_id, .base_loc = e.base_loc};
  return Append(entry, sealed, 0);
}

Result<BlockLocation> PackWriter::Append(Entry entry, ByteView sealed, size_t raw_size) {
  if (buffer_.empty()) {
    Bytes fresh = pipeline::RandomBytes(current_.size());
    std::copy(fresh.begin(), fresh.end(), current_.begin());
    // Once per writer: the target, the blob that crosses it and the trailer, instead of growing
    // by doubling (32 MiB copied into 64 MiB at the last blobs). Pages never written are never
    // resident, so the headroom costs address space only.
    if (buffer_.capacity() == 0) buffer_.reserve(target_size_ + target_size_ / 8 + (1 << 20));
  }
  BlockLocation loc{current_, static_cast<uint32_t>(buffer_.size()),
                    static_cast<uint32_t>(sealed.size())};
  pgvault::Append(buffer_, sealed);
  entry.offset = loc.offset;
  entry.size = loc.size;
  entries_.push_back(entry);
  stats_.raw_bytes_written += raw_size;
  stats_.bytes_written += sealed.size();
  stats_.blocks_written++;
  if (buffer_.size() >= target_size_) PGV_RETURN_IF_ERROR(Flush());
  return loc;
}

Status PackWriter::Flush() {
  if (buffer_.empty()) return Status::Ok();
  Bytes index;
  Encoder enc(index);
  enc.U32(static_cast<uint32_t>(entries_.size()));
  for (const Entry& e : entries_) {
    enc.Raw(e.id);
    enc.U32(e.offset);
    enc.U32(e.size);
    enc.U8(e.delta ? 2 : 1);
    if (!e.delta) continue;
    enc.Raw(e.base_id);
    enc.Raw(e.base_loc.pack);
    enc.U32(e.base_loc.offset);
    enc.U32(e.base_loc.size);
  }
  Bytes trailer = codec_.Encode(index, AsBytes(PackTrailerAad(current_)));
  // Exact growth if a trailer of very many small blobs outgrows the headroom (a no-op otherwise).
  buffer_.reserve(buffer_.size() + trailer.size() + 4 + kPackMagic.size());
  pgvault::Append(buffer_, trailer);
  Encoder(buffer_).U32(static_cast<uint32_t>(trailer.size()));
  pgvault::Append(buffer_, AsBytes(kPackMagic));
  int64_t t0 = pipeline::ThreadCpuNanos();
  storage::PutOptions options = put_options_;
  options.if_absent = true;
  Status s = storage_.Put(PackKey(current_), buffer_, options);
  if (times_) times_->write_ns += pipeline::ThreadCpuNanos() - t0;
  if (!s.ok()) return s.Context("writing pack");
  stats_.packs_written++;
  buffer_.clear();
  entries_.clear();
  return Status::Ok();
}

Result<Bytes> DecodeBlock(const pipeline::Codec& codec, pipeline::Hmac& hmac,
                          const pipeline::Digest& id, const BlockLocation& loc, ByteView sealed,
                          IdCheck check) {
  auto where = [&] {
    return fmt::format("block at offset {} of pack '{}'", loc.offset, PackKey(loc.pack));
  };
  if (sealed.size() != loc.size)
    return Status::Corruption(
        fmt::format("{} is truncated ({} of {} bytes)", where(), sealed.size(), loc.size));
  auto plain = codec.Decode(sealed, id);
  if (!plain.ok())
    return Status::Corruption(fmt::format("{}: {}", where(), plain.status().message()));
  bool authenticated = codec.encrypted() && check == IdCheck::kUnlessAuthenticated;
  if (!authenticated && hmac.Compute(*plain) != id)
    return Status::Corruption(fmt::format("{}: content does not match its block id", where()));
  return plain;
}

Result<Bytes> DecodeDeltaBlock(const pipeline::Codec& codec, pipeline::Hmac& hmac,
                               const pipeline::Digest& id, const BlockLocation& loc,
                               const pipeline::Digest& base_id, ByteView sealed, ByteView base,
                               IdCheck check) {
  auto where = [&] {
    return fmt::format("delta block at offset {} of pack '{}'", loc.offset, PackKey(loc.pack));
  };
  if (sealed.size() != loc.size)
    return Status::Corruption(
        fmt::format("{} is truncated ({} of {} bytes)", where(), sealed.size(), loc.size));
  auto frame = codec.Decode(sealed, DeltaAad(id, base_id));
  if (!frame.ok())
    return Status::Corruption(fmt::format("{}: {}", where(), frame.status().message()));
  Bytes plain;
  Status s = pipeline::DeltaDecode(base, *frame, plain);
  if (!s.ok()) return Status::Corruption(fmt::format("{}: {}", where(), s.message()));
  bool authenticated = codec.encrypted() && check == IdCheck::kUnlessAuthenticated;
  if (!authenticated && hmac.Compute(plain) != id)
    return Status::Corruption(fmt::format("{}: content does not match its block id", where()));
  return plain;
}

Status CheckDeltaBlob(const pipeline::Codec& codec, const pipeline::Digest& id,
                      const pipeline::Digest& base_id, const BlockLocation& loc, ByteView sealed) {
  auto frame = codec.Decode(sealed, DeltaAad(id, base_id));
  if (frame.ok()) return Status::Ok();
  return Status::Corruption(fmt::format("delta block at offset {} of pack '{}': {}", loc.offset,
                                        PackKey(loc.pack), frame.status().message()));
}

Result<PackIndex> DecodePackIndex(const pipeline::Codec& codec, const PackId& id, ByteView tail,
                                  uint64_t pack_size) {
  std::string key = PackKey(id);
  const size_t footer = kPackMagic.size() + 4;
  if (tail.size() < footer || tail.size() > pack_size ||
      AsString(tail.last(kPackMagic.size())) != kPackMagic)
    return Status::Corruption(fmt::format("pack '{}' has no pack trailer", key));
  uint32_t trailer_size;
  Decoder(tail.subspan(tail.size() - footer, 4)).U32(trailer_size);
  if (trailer_size > tail.size() - footer)
    return Status::Corruption(fmt::format("pack '{}' has a bad trailer size", key));
  size_t trailer_in_tail = tail.size() - footer - trailer_size;
  auto plain =
      codec.Decode(tail.subspan(trailer_in_tail, trailer_size), AsBytes(PackTrailerAad(id)));
  if (!plain.ok())
    return Status::Corruption(fmt::format("pack '{}' trailer: {}", key, plain.status().message()));
  PackIndex index{.data_size = pack_size - footer - trailer_size};
  Decoder dec(*plain);
  uint32_t count;
  if (!dec.U32(count) || count > dec.remaining())
    return Status::Corruption(fmt::format("pack '{}' trailer is truncated", key));
  uint64_t expected_offset = 0;
  for (uint32_t entry_idx = 0; entry_idx < count; ++entry_idx) {
    ByteView raw_id, raw_base_id, raw_base_pack;
    PackIndexEntry e;
    uint8_t kind = 0;
    if (!dec.Raw(32, raw_id) || !dec.U32(e.offset) || !dec.U32(e.size) || !dec.U8(kind) ||
        kind < 1 || kind > 2 ||
        (kind == 2 && (!dec.Raw(32, raw_base_id) || !dec.Raw(16, raw_base_pack) ||
                       !dec.U32(e.base_loc.offset) || !dec.U32(e.base_loc.size))))
      return Status::Corruption(fmt::format("pack '{}' trailer is truncated", key));
    if (static_cast<uint64_t>(e.offset) + e.size > index.data_size)
      return Status::Corruption(fmt::format("pack '{}' trailer points past its blocks", key));
    if (e.offset != expected_offset)
      return Status::Corruption(fmt::format("pack '{}' trailer: bytes {}..{} belong to no block",
                                            key, expected_offset, e.offset));
    expected_offset = static_cast<uint64_t>(e.offset) + e.size;
    e.delta = kind == 2;
    std::copy(raw_id.begin(), raw_id.end(), e.id.begin());
    if (e.delta) {
      std::copy(raw_base_id.begin(), raw_base_id.end(), e.base_id.begin());
      std::copy(raw_base_pack.begin(), raw_base_pack.end(), e.base_loc.pack.begin());
    }
    index.entries.push_back(e);
  }
  if (!dec.done())
    return Status::Corruption(fmt::format("pack '{}' trailer has trailing bytes", key));
  if (expected_offset != index.data_size)
    return Status::Corruption(fmt::format("pack '{}' trailer: bytes {}..{} belong to no block", key,
                                          expected_offset, index.data_size));
  return index;
}

Result<PackIndex> ReadPackIndex(storage::Storage& storage, const pipeline::Codec& codec,
                                const PackId& id, uint64_t pack_size) {
  std::string key = PackKey(id);
  const size_t footer = kPackMagic.size() + 4;
  if (pack_size < footer)
    return Status::Corruption(fmt::format("pack '{}' has no pack trailer", key));
  PGV_ASSIGN_OR_RETURN(Bytes end, storage.Get(key, {pack_size - footer, footer}));
  if (end.size() != footer)
    return Status::Corruption(fmt::format("pack '{}' has no pack trailer", key));
  uint32_t trailer_size;
  Decoder(ByteView(end).first(4)).U32(trailer_size);
  if (trailer_size > pack_size - footer)
    return Status::Corruption(fmt::format("pack '{}' has a bad trailer size", key));
  PGV_ASSIGN_OR_RETURN(
      Bytes tail, storage.Get(key, {pack_size - footer - trailer_size, trailer_size + footer}));
  return DecodePackIndex(codec, id, tail, pack_size);
}

Status VerifyPack(storage::Storage& storage, const pipeline::Codec& codec, pipeline::Hmac& hmac,
                  const PackId& id, ByteView pack) {
  std::string key = PackKey(id);
  PGV_ASSIGN_OR_RETURN(PackIndex index, DecodePackIndex(codec, id, pack, pack.size()));
  RedirectCache redirects(storage, codec);
  for (const PackIndexEntry& e : index.entries) {
    BlockLocation loc{.pack = id, .offset = e.offset, .size = e.size};
    if (!e.delta) {
      auto plain = DecodeBlock(codec, hmac, e.id, loc, pack.subspan(e.offset, e.size));
      if (!plain.ok()) return plain.status();
      continue;
    }
    auto base_sealed = storage.Get(PackKey(e.base_loc.pack), {e.base_loc.offset, e.base_loc.size});
    if (!base_sealed.ok() && base_sealed.status().IsNotFound()) {  // the base's pack was repacked
      auto moved = redirects.Resolve(e.base_loc);
      base_sealed = moved.ok() ? storage.Get(PackKey(moved->pack), {moved->offset, moved->size})
                               : Result<Bytes>(moved.status());
    }
    if (!base_sealed.ok())
      return base_sealed.status().Context(
          fmt::format("reading the base of a block in pack '{}'", key));
    PGV_ASSIGN_OR_RETURN(Bytes base, DecodeBlock(codec, hmac, e.base_id, e.base_loc, *base_sealed));
    auto plain =
        DecodeDeltaBlock(codec, hmac, e.id, loc, e.base_id, pack.subspan(e.offset, e.size), base);
    if (!plain.ok()) return plain.status();
  }
  return Status::Ok();
}

}  // namespace pgvault::repo

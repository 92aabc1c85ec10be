#include "repo/block_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "repo/pack.h"

namespace pgvault::repo {
Status BlockReader::Read(const std::vector<BlockRef>& refs, size_t first, size_t count,
                         const std::function<Status(size_t index, Bytes& plaintext)>& fn) {
  size_t end = std::min(refs.size(), first + count);
  // 1. Every blob needed, deduplicated and sorted, so that runs within a pack are adjacent.
  std::vector<Blob> blobs;
  for (size_t idx = first; idx < end; ++idx) {
    const BlockRef& b = refs[idx];
    if (b.zero) continue;
    blobs.push_back({b.loc.pack, b.loc.offset, b.loc.size});
    if (b.delta) blobs.push_back({b.base_loc.pack, b.base_loc.offset, b.base_loc.size});
  }
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end(),
                          [](const Blob& a, const Blob& b) { return !(a < b) && !(b < a); }),
              blobs.end());
  // 2. One ranged read per run of touching blobs; the blobs of moved packs (known from an
  // earlier call, or missing now) where their redirect says, in a second round.
  std::vector<Bytes> reads;
  std::map<Blob, ByteView> fetched;
  std::vector<Fetch> direct, moved;
  for (const Blob& blob : blobs)
    (redirects_.KnownMoved(blob.pack) ? moved : direct).push_back({blob, blob});
  PGV_RETURN_IF_ERROR(FetchRuns(direct, reads, fetched, &moved));
  if (!moved.empty()) {
    for (Fetch& f : moved) {
      PGV_ASSIGN_OR_RETURN(BlockLocation now,
                           redirects_.Resolve({f.what.pack, f.what.offset, f.what.size}));
      f.where = {now.pack, now.offset, now.size};
    }
    std::sort(moved.begin(), moved.end(),
              [](const Fetch& a, const Fetch& b) { return a.where < b.where; });
    PGV_RETURN_IF_ERROR(FetchRuns(moved, reads, fetched, nullptr));
  }
  // 3. Decode in file order; a base shared by several deltas is decoded once per call.
  std::map<Blob, Bytes> bases;
  for (size_t idx = first; idx < end; ++idx) {
    const BlockRef& b = refs[idx];
    if (b.zero) continue;
    auto plain = Decode(b, fetched, bases);
    if (!plain.ok() && plain.status().code() == Code::kCorruption)
      plain = Reread(b, plain.status());
    if (!plain.ok()) return plain.status();
    PGV_RETURN_IF_ERROR(fn(idx, *plain));
  }
  return Status::Ok();
}

Status BlockReader::FetchRuns(const std::vector<Fetch>& blobs, std::vector<Bytes>& reads,
                              std::map<Blob, ByteView>& fetched, std::vector<Fetch>* missing) {
  for (size_t run_start = 0; run_start < blobs.size();) {
    const Blob& first = blobs[run_start].where;
    size_t run_end = run_start + 1;
    uint64_t run_bytes = first.size;
    while (run_end < blobs.size() && blobs[run_end].where.pack == first.pack &&
           blobs[run_end].where.offset ==
               blobs[run_end - 1].where.offset + blobs[run_end - 1].where.size &&
           run_bytes + blobs[run_end].where.size <= kWorkUnitBytes)
      run_bytes += blobs[run_end++].where.size;
    std::string key = PackKey(first.pack);
    auto data = storage_.Get(key, {first.offset, run_bytes});
    requests_++;
    if (!data.ok()) {
      if (!data.status().IsNotFound()) return data.status();
      if (!missing)
        return Status::Corruption(fmt::format("pack '{}' is missing from the repository", key));
      missing->insert(missing->end(), blobs.begin() + run_start, blobs.begin() + run_end);
      run_start = run_end;
      continue;
    }
    reads.push_back(std::move(data).value());
    ByteView view = reads.back();
    uint64_t pos = 0;
    for (size_t idx = run_start; idx < run_end; ++idx) {
      uint64_t at = std::min<uint64_t>(pos, view.size());
      uint32_t size = blobs[idx].where.size;
      fetched[blobs[idx].what] = view.subspan(at, std::min<uint64_t>(size, view.size() - at));
      pos += size;
    }
    run_start = run_end;
  }
  return Status::Ok();
}

Result<Bytes> BlockReader::Decode(const BlockRef& b, std::map<Blob, ByteView>& fetched,
                                  std::map<Blob, Bytes>& bases) {
  ByteView sealed = fetched[{b.loc.pack, b.loc.offset, b.loc.size}];
  if (!b.delta) return DecodeBlock(codec_, hmac_, b.id, b.loc, sealed, check_);
  Blob base_blob{b.base_loc.pack, b.base_loc.offset, b.base_loc.size};
  auto it = bases.find(base_blob);
  if (it == bases.end()) {
    PGV_ASSIGN_OR_RETURN(
        Bytes base, DecodeBlock(codec_, hmac_, b.base_id, b.base_loc, fetched[base_blob], check_));
    it = bases.emplace(base_blob, std::move(base)).first;
  }
  return DecodeDeltaBlock(codec_, hmac_, b.id, b.loc, b.base_id, sealed, it->second, check_);
}

namespace {

// What a failed reread reports: the damage it tried to read past, unless the repository did not
// answer at all (then the damage is unproven and the caller should stop, not read on).
Status Unreadable(const Status& damage, const Status& reread) {
  return reread.code() == Code::kUnavailable ? reread : damage;
}

}  // namespace

Result<Bytes> BlockReader::Reread(const BlockRef& b, const Status& damage) {
  Bytes base;
  if (b.delta) {
    auto decoded = ReadBlob(b.base_loc, [&](ByteView sealed) {
      return DecodeBlock(codec_, hmac_, b.base_id, b.base_loc, sealed, check_);
    });
    if (!decoded.ok()) return Unreadable(damage, decoded.status());
    base = std::move(decoded).value();
  }
  auto plain = ReadBlob(b.loc, [&](ByteView sealed) {
    if (!b.delta) return DecodeBlock(codec_, hmac_, b.id, b.loc, sealed, check_);
    return DecodeDeltaBlock(codec_, hmac_, b.id, b.loc, b.base_id, sealed, base, check_);
  });
  if (!plain.ok()) return Unreadable(damage, plain.status());
  return plain;
}

Result<Bytes> BlockReader::ReadBlob(const BlockLocation& loc,
                                    const std::function<Result<Bytes>(ByteView)>& decode) {
  Bytes plain;
  BlockLocation where = loc;
  if (redirects_.KnownMoved(loc.pack)) {
    PGV_ASSIGN_OR_RETURN(where, redirects_.Resolve(loc));
  }
  requests_++;
  auto sealed = storage_.GetChecked(PackKey(where.pack), {where.offset, where.size},
                                    [&](ByteView bytes) -> Status {
                                      auto decoded = decode(bytes);
                                      if (!decoded.ok()) return decoded.status();
                                      plain = std::move(decoded).value();
                                      return Status::Ok();
                                    });
  if (!sealed.ok()) return sealed.status();
  return plain;
}

}  // namespace pgvault::repo

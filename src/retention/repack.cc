#include "retention/repack.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/time.h"
#include "repo/redirect.h"

namespace pgvault::retention {

namespace {

using Where = std::pair<repo::PackId, uint32_t>;  // (pack, offset) as stored now

struct Moved {
  repo::BlockLocation loc;
  pipeline::Digest id{};
};

// The live blobs of one candidate, read and checked: a blob that does not decode under its id is
// damage, and damage is never copied (the pack is kept and reported instead).
Result<std::vector<std::pair<repo::PackIndexEntry, Bytes>>> ReadLiveBlobs(
    repo::Repository& repo, pipeline::Hmac& hmac, const RepackCandidate& c) {
  PGV_ASSIGN_OR_RETURN(Bytes pack, repo.storage().Get(c.object.key));
  PGV_ASSIGN_OR_RETURN(auto index, repo::DecodePackIndex(repo.codec(), c.id, pack, pack.size()));
  std::vector<std::pair<repo::PackIndexEntry, Bytes>> out;
  for (const auto& e : index.entries) {
    auto it = c.live.find(e.offset);
    if (it == c.live.end()) continue;
    if (it->second != e.size)
      return Status::Corruption(
          fmt::format("block at offset {} of pack '{}' has {} bytes, its "
                      "references say {}",
                      e.offset, c.object.key, e.size, it->second));
    ByteView sealed = ByteView(pack).subspan(e.offset, e.size);
    repo::BlockLocation loc{.pack = c.id, .offset = e.offset, .size = e.size};
    // A delta's plaintext needs its base; its authenticated (or CRC-checked) frame is the check.
    Status ok = e.delta ? repo::CheckDeltaBlob(repo.codec(), e.id, e.base_id, loc, sealed)
                        : repo::DecodeBlock(repo.codec(), hmac, e.id, loc, sealed).status();
    PGV_RETURN_IF_ERROR(ok);
    out.emplace_back(e, Bytes(sealed.begin(), sealed.end()));
  }
  if (out.size() != c.live.size())
    return Status::Corruption(
        fmt::format("pack '{}': {} blocks its references name are not in its index", c.object.key,
                    c.live.size() - out.size()));
  return out;
}

}  // namespace

Result<std::vector<RepackCandidate>> PlanRepack(const LivePacks& live,
                                                const std::vector<repo::ListedPack>& packs,
                                                int threshold_percent) {
  std::map<repo::PackId, RepackCandidate> stored;  // by the pack that holds the blobs now
  for (const auto& [pack, spans] : live.blocks) {
    auto redirect = live.redirects.find(pack);
    for (const auto& [offset, size] : spans) {
      Where where{pack, offset};
      if (redirect != live.redirects.end()) {
        const repo::RedirectEntry* e = redirect->second.Find(offset, size);
        if (!e)
          return Status::Corruption(fmt::format(
              "block at offset {} of pack '{}' is named by a backup but not by its redirect '{}'",
              offset, repo::PackKey(pack), repo::RedirectKey(pack, redirect->second.generation)));
        where = {e->pack, e->offset};
      }
      RepackCandidate& c = stored[where.first];
      if (c.live.emplace(where.second, size).second) c.live_bytes += size;
    }
  }
  std::vector<RepackCandidate> out;
  for (const auto& pack : packs) {
    auto it = stored.find(pack.id);
    if (it == stored.end() || !live.Needed(pack.id)) continue;
    if (it->second.live_bytes * 100 >= uint64_t(threshold_percent) * pack.object.size) continue;
    it->second.id = pack.id;
    it->second.object = pack.object;
    out.push_back(std::move(it->second));
  }
  return out;
}

Status Repack(repo::Repository& repo, const LivePacks& live,
              const std::vector<RepackCandidate>& candidates, int64_t now_unix, bool dry_run,
              RepackResult& result) {
  storage::Storage& st = repo.storage();
  pipeline::Hmac hmac(repo.id_key());
  repo::PackWriter writer = repo.NewPackWriter();
  std::map<Where, Moved> moved;
  for (const RepackCandidate& c : candidates) {
    if (st.features().object_lock) {
      PGV_ASSIGN_OR_RETURN(auto info, st.Stat(c.object.key));
      if (info.retain_until_unix > now_unix || info.legal_hold) {
        result.locked_keys.push_back(fmt::format(
            "{} ({})", c.object.key,
            info.legal_hold ? "legal hold"
                            : "retained until " + FormatIsoSeconds(info.retain_until_unix)));
        continue;
      }
    }
    result.packs_repacked++;
    result.bytes_freeable += c.object.size;
    result.repacked.push_back(c.id);
    if (dry_run) {
      result.bytes_copied += c.live_bytes;
      continue;
    }
    auto blobs = ReadLiveBlobs(repo, hmac, c);
    if (!blobs.ok() && blobs.status().code() != Code::kCorruption) return blobs.status();
    if (!blobs.ok()) {
      log::Warn("not repacking '{}': {}", c.object.key, blobs.status().message());
      result.damaged.push_back(blobs.status().message());
      result.packs_repacked--;
      result.bytes_freeable -= c.object.size;
      result.repacked.pop_back();
      continue;
    }
    for (const auto& [entry, sealed] : *blobs) {
      PGV_ASSIGN_OR_RETURN(auto loc, writer.AddSealed(entry, sealed));
      moved[{c.id, entry.offset}] = {loc, entry.id};
      result.bytes_copied += sealed.size();
    }
  }
  if (dry_run || moved.empty()) return Status::Ok();
  // 1. The new packs. A crash after this leaves them unreferenced: a later gc removes them.
  PGV_RETURN_IF_ERROR(writer.Flush());
  result.packs_written = writer.stats().packs_written;
  // 2. The next redirect generation of every pack named by a backup whose blocks moved now,
  // listing all its live blocks (the ones that did not move keep their current place).
  std::vector<repo::Redirect> next;
  for (const auto& [pack, spans] : live.blocks) {
    auto current = live.redirects.find(pack);
    bool has_current = current != live.redirects.end();
    repo::Redirect r{.old_pack = pack,
                     .generation = has_current ? current->second.generation + 1 : 1};
    bool touched = false;
    for (const auto& [offset, size] : spans) {
      repo::RedirectEntry e{.old_offset = offset, .size = size, .pack = pack, .offset = offset};
      if (has_current) {
        const repo::RedirectEntry* now = current->second.Find(offset, size);
        if (now) e = *now;  // PlanRepack checked that it lists every named block
      }
      auto it = moved.find({e.pack, e.offset});
      if (it != moved.end()) {
        touched = true;
        e.pack = it->second.loc.pack;
        e.offset = it->second.loc.offset;
        e.id = it->second.id;
      }
      r.entries.push_back(e);
    }
    if (touched) next.push_back(std::move(r));
  }
  // 3. Format 2 before the first redirect, so that no older pgvault misreads the repository.
  PGV_RETURN_IF_ERROR(repo.RaiseFormat(repo::kFormatRedirects));
  for (const repo::Redirect& r : next) {
    PGV_RETURN_IF_ERROR(repo::WriteRedirect(st, repo.codec(), r));
    result.redirects_written++;
    if (r.generation > 1)
      result.superseded.push_back({.key = repo::RedirectKey(r.old_pack, r.generation - 1)});
  }
  return Status::Ok();
}

}  // namespace pgvault::retention

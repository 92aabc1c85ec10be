// `gc --repack`: copies the live blocks of packs that are mostly dead into new packs and writes a
// redirect for every pack whose blocks moved, so that deleted backups free space even when a few
// of their blocks are still used (docs/design.md, "Garbage collection and repack"). Order: new
// packs, then the repository format is raised to 2, then the redirects; the old packs are only
// named by this run's gc mark and deleted by a gc at least the grace period later. A crash at any
// point leaves every block reachable: through the old pack, or through a complete redirect into
// packs that exist.
#pragma once

#include <cstdint>
#include <vector>

#include "repo/pack.h"
#include "repo/repository.h"
#include "retention/gc.h"

namespace pgvault::retention {

// One pack below the threshold: its live blobs (offset -> size) in the pack as stored.
struct RepackCandidate {
  storage::ObjectInfo object;
  repo::PackId id{};
  std::map<uint32_t, uint32_t> live;
  uint64_t live_bytes = 0;
};

// The packs whose live bytes are below threshold_percent of their size, from live (found with
// blocks) and the listed packs. kCorruption when a manifest names a block of a moved pack that
// its redirect does not list.
Result<std::vector<RepackCandidate>> PlanRepack(const LivePacks& live,
                                                const std::vector<repo::ListedPack>& packs,
                                                int threshold_percent);

// Repacks the candidates (see above); with dry_run only counts. Packs retained by object lock,
// and packs whose live blocks fail to decode, are skipped and reported.
Status Repack(repo::Repository& repo, const LivePacks& live,
              const std::vector<RepackCandidate>& candidates, int64_t now_unix, bool dry_run,
              RepackResult& result);

}  // namespace pgvault::retention

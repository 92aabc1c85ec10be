// repo-sync: brings a replica up to date with the repository. Replicas share one repository
// identity (config and key objects), so objects are copied verbatim, each verified first (packs
// block by block, WAL by SHA-256, manifests by decryption). Objects are copied in dependency
// order: keys, cluster, packs, redirects (gc --repack), WAL, manifest parts, manifests, catalog
// records, and `config` last, so an interrupted sync never leaves the replica with a backup whose
// data it lacks. A replica's format 1 config is replaced by the source's format 2 one, last.
#pragma once

#include <cstdint>

#include "repo/repository.h"

namespace pgvault::repo {

struct SyncStats {
  uint64_t objects_copied = 0;
  uint64_t bytes_copied = 0;
  uint64_t objects_present = 0;  // already in the target
};

// kConflict when the target is a different repository (its config names another repo_id).
Result<SyncStats> SyncRepository(Repository& from, storage::Storage& to, int jobs);

}  // namespace pgvault::repo

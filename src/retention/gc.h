// Garbage collection of packs: which packs the backups still reference, and deleting the packs
// no backup references. `pgvault gc` is two-phase: a run writes a write-once mark (gc/mark-...)
// naming the packs no backup references, and deletes only packs that a mark written at least a
// grace period earlier named and that are still unreferenced, while no backup runs, under the
// gc lock (locks/gc). docs/repository-format.md ("Garbage collection") has the ordering rules.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "repo/redirect.h"
#include "repo/repository.h"

namespace pgvault::retention {

struct PackCollection {
  uint64_t packs_deleted = 0;
  uint64_t bytes_deleted = 0;
  uint64_t packs_locked = 0;  // unreferenced but locked: kept
  uint64_t packs_recent = 0;  // unreferenced but younger than the grace period: kept
  std::vector<std::string> locked_examples;
  std::vector<std::string> locked_keys;  // every locked pack's key
};

// A block location as a manifest names it: (offset, sealed size) within its pack.
using BlockSpan = std::pair<uint32_t, uint32_t>;

// The packs every backup in the repository needs. A pack that gc --repack moved is needed no
// longer (its redirect is, and the packs the redirect points into). damaged is set to the id of
// the first backup whose manifest cannot be read, or the key of a redirect that cannot be (then
// the sets are incomplete and nothing may be deleted).
struct LivePacks {
  std::set<repo::PackId> packs;  // named by a manifest, or the target of a current redirect
  std::set<repo::PackId> named;  // named by a manifest
  // The current redirect of every named pack that has one (its pack is not needed).
  std::map<repo::PackId, repo::Redirect> redirects;
  // Redirect objects nothing needs: older generations, and those of packs no manifest names.
  std::vector<storage::ObjectInfo> stale_redirects;
  // With blocks: every block location the manifests name (a delta's base too), by pack, sorted
  // and unique (8 bytes a block).
  std::map<repo::PackId, std::vector<BlockSpan>> blocks;
  std::string damaged;
  std::string damage;
  bool Needed(const repo::PackId& id) const { return packs.count(id) && !redirects.count(id); }
};
Result<LivePacks> FindLivePacks(repo::Repository& repo, bool with_blocks = false);

// Deletes the packs not in live that are older than grace_seconds (by mtime) and not locked.
Status CollectPacks(repo::Repository& repo, const std::set<repo::PackId>& live, int64_t now,
                    int64_t grace_seconds, PackCollection& result);

// Deletes objects (packs no backup references) except locked ones (checked with Stat on
// object-lock storage, or refused by the storage), which are counted and kept.
Status DeleteUnlocked(storage::Storage& st, const std::vector<storage::ObjectInfo>& objects,
                      int64_t now, PackCollection& result);

struct GcOptions {
  int64_t grace_seconds = 3600;
  bool dry_run = false;         // report what a run would do; write nothing
  int64_t now_unix_micros = 0;  // 0 = the clock
  bool repack = false;          // repack packs whose live fraction is below the threshold
  int repack_threshold_percent = 50;
};

// What --repack did (or, dry run, would do). docs/design.md "Garbage collection and repack".
struct RepackResult {
  uint64_t packs_repacked = 0;
  uint64_t bytes_freeable = 0;  // their size: a gc after the grace period deletes them
  uint64_t bytes_copied = 0;    // the live blocks copied out of them
  uint64_t packs_written = 0;
  uint64_t redirects_written = 0;
  std::vector<std::string> locked_keys;  // below the threshold but retained (object lock): kept
  std::vector<std::string> damaged;      // below the threshold but a live block is damaged: kept
  std::vector<repo::PackId> repacked;    // now not needed: this run's mark names them
  std::vector<storage::ObjectInfo> superseded;  // redirects replaced by a newer generation
};

struct GcResult {
  bool dry_run = false;
  uint64_t packs_total = 0, bytes_total = 0;  // before this run
  uint64_t packs_live = 0, bytes_live = 0;
  PackCollection collected;     // deleted (or, dry run, would be deleted) and locked
  uint64_t packs_waiting = 0;   // unreferenced, not yet in a mark older than the grace period
  uint64_t packs_marked = 0;    // named by this run's mark
  std::string mark_key;         // this run's mark ("" when none was written)
  uint64_t marks_removed = 0;   // earlier marks this run consumed
  std::string skipped_running;  // a backup is running: nothing was deleted
  std::string skipped_damaged;  // a backup is damaged: nothing was marked or deleted
  uint64_t redirects_deleted = 0;
  uint64_t redirects_marked = 0;
  bool repack = false;  // --repack was asked for
  RepackResult repacked;
  // Backup ids whose interrupted backup, expire or repo-sync left manifest objects beside an
  // incomplete marker, untouched for the grace period: removed (none while a backup runs).
  std::vector<std::string> interrupted_backups;
  // Temp files of writers killed mid-write, older than the grace period: removed.
  storage::Storage::AbandonedWrites abandoned;
};

// One gc run (see above). kConflict when another gc or expire holds the gc lock.
Result<GcResult> RunGc(repo::Repository& repo, const GcOptions& options);

std::string GcText(const GcResult& r);

}  // namespace pgvault::retention

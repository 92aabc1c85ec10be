// Garbage collection of packs: which packs the backups still reference, and deleting the packs
// no backup references. `pgvault gc` is two-phase: a run writes a write-once mark (gc/mark-...)
// naming the packs no backup references, and deletes only packs that a mark written at least a
// grace period earlier named and that are still unreferenced, while no backup runs, under the
// gc lock (locks/gc). docs/repository-format.md ("Garbage collection") has the ordering rules.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

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

// The packs referenced by every backup in the repository. damaged is set to the id of the first
// backup whose manifest cannot be read (then the set is incomplete and nothing may be deleted).
struct LivePacks {
  std::set<repo::PackId> packs;
  std::string damaged;
  std::string damage;
};
Result<LivePacks> FindLivePacks(repo::Repository& repo);

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
};

// One gc run (see above). kConflict when another gc or expire holds the gc lock.
Result<GcResult> RunGc(repo::Repository& repo, const GcOptions& options);

std::string GcText(const GcResult& r);

}  // namespace pgvault::retention

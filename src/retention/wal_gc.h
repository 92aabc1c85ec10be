// WAL collection: deleting the WAL objects (wal/) and streamed parts (stream/) that no kept
// backup and no PITR window needs. Run by `expire` when it applies the retention policy (gc
// collects packs only: it has no policy). docs/repository-format.md ("Garbage collection", "WAL
// collection") has the rules and why any deletion order is safe.
//
// A WAL file is kept when it is
//   - a timeline history file (.history): always;
//   - at or after the cut (the start segment of the PITR window's oldest backup), by position on
//     any timeline: the window needs WAL from there on to be complete;
//   - inside a kept backup's own range, start_wal to the segment after stop_wal (by timeline
//     and position; recovery reads the record after the backup's end, in the next segment), or
//     that backup's .backup history file: an older kept backup restores to its own end.
// Everything else under wal/ goes. A streamed part goes when its segment is stored whole under
// wal/, or when a WAL file of its segment would go.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "repo/repository.h"
#include "retention/policy.h"
#include "storage/storage.h"

namespace pgvault::retention {

struct WalRange {
  std::string backup_id;
  std::string start_wal;  // the segment holding its start LSN
  std::string stop_wal;   // the last segment it needs ("" when unknown: to the end)
};

struct WalNeeds {
  // The PITR window's oldest backup's start segment; "" keeps everything.
  std::string cut;
  std::vector<WalRange> kept;  // every backup that stays
};

// Whether the WAL file `name` (a file name as archive-push stores it) must stay.
bool WalNeeded(const WalNeeds& needs, std::string_view name);

struct WalSelection {
  std::vector<storage::ObjectInfo> wal;     // objects under wal/ that may go, sorted by name
  std::vector<storage::ObjectInfo> stream;  // streamed parts under stream/ that may go
};
// Pure: which of `wal_objects` (keys under wal/) and `stream_objects` (keys under stream/) may
// go. Keys that are not WAL or stream names are kept.
WalSelection SelectWal(const WalNeeds& needs, const std::vector<storage::ObjectInfo>& wal_objects,
                       const std::vector<storage::ObjectInfo>& stream_objects);

struct WalCollection {
  bool dry_run = false;
  uint64_t files_before = 0, bytes_before = 0;  // under wal/ before this run
  uint64_t files_deleted = 0, bytes_deleted = 0;
  std::string first_deleted, last_deleted;  // WAL file names ("" when none)
  uint64_t stream_deleted = 0, stream_bytes_deleted = 0;
  uint64_t locked = 0;  // would go, but locked (object lock): kept
  std::vector<std::string> locked_examples;
  std::string cut;
  std::string skipped_damaged;  // a backup is damaged: its WAL is unknown, nothing deleted
};

// The needs of the repository after `plan`: the plan's cut and the own WAL (start_wal to the
// segment after stop_wal) of every intact backup the plan does not let go (backups taken since the
// plan are kept too). kept empty and damaged set when a backup's header cannot be read.
Result<WalNeeds> NeedsAfter(repo::Repository& repo, const Plan& plan, std::string* damaged);

// Records on the plan's PITR anchor (catalog kind walcut) that WAL before the plan's cut may be
// trimmed, so that verify, check and info count WAL gaps from there on (repo/wal_ranges.h); does
// nothing when that backup already records the same cut or the plan has no cut. Written before
// any WAL goes (and before expire removes the backup that held the previous record).
Status RecordWalCut(repo::Repository& repo, const Plan& plan, int64_t now_micros);

// Deletes (dry_run: only counts) the WAL and streamed parts no kept backup and no PITR window
// needs after `plan`, under the gc lock (not taken for a dry run), after RecordWalCut. Locked
// objects are kept and counted. now_unix: the clock, for object lock and the record.
Result<WalCollection> CollectWal(repo::Repository& repo, const Plan& plan, bool dry_run,
                                 int64_t now_unix);

// "WAL: deleted 12 files (201.3 MB), 000000010000000000000003 .. 00000001000000000000000E; ..."
std::string WalText(const WalCollection& c);

}  // namespace pgvault::retention

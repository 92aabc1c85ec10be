// WAL ranges: what the repository holds per timeline, timeline histories, and gaps.
// A read-only view built from one listing of wal/; it never changes the repository.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pg/wal_names.h"
#include "repo/repository.h"

namespace pgvault::repo {

// One line of a NNNNNNNN.history file: timeline `tli` ended at `switch_lsn`.
struct HistoryEntry {
  uint32_t tli = 0;
  uint64_t switch_lsn = 0;
  std::string reason;  // PostgreSQL's third column: "before 2024-...", "no recovery target ..."
};

// Parses PostgreSQL's history file text ("1\t0/3000158\tbefore 2024-..."), oldest first.
// kCorruption for a line that is neither blank, a comment, nor "tli<TAB>lsn...".
Result<std::vector<HistoryEntry>> ParseHistory(std::string_view text);

// The timelines a recovery that ends on `tli` follows, oldest first, each with the LSN where it
// was left (UINT64_MAX for `tli` itself).
std::vector<HistoryEntry> TimelinePath(uint32_t tli, const std::vector<HistoryEntry>& history);

class WalIndex {
 public:
  // Lists wal/ once. segment_size is the cluster's wal_segment_size.
  static Result<WalIndex> Load(Repository& repo, uint64_t segment_size);

  uint64_t segment_size() const { return segment_size_; }
  // Timelines with at least one segment or history file, ascending.
  std::vector<uint32_t> Timelines() const;
  const std::set<uint64_t>& Segments(uint32_t tli) const;
  bool HasSegment(uint32_t tli, uint64_t segno) const;
  bool HasHistory(uint32_t tli) const { return histories_.count(tli) > 0; }
  // Highest timeline with a segment or a history file, or 1 (a timeline whose history file is
  // lost still counts: recovery to "latest" must not quietly end on an older one).
  uint32_t LatestTimeline() const;
  // The history of tli read from the repository; empty for timeline 1 or when missing.
  Result<std::vector<HistoryEntry>> History(Repository& repo, uint32_t tli) const;

  // The timeline that holds segment segno when recovering along path (newest timeline whose
  // start is at or before the segment).
  static uint32_t TimelineFor(uint64_t segno, const std::vector<HistoryEntry>& path,
                              uint64_t segment_size);
  // Segment names missing from [from, to] along path, in order (at most `limit`).
  std::vector<std::string> Missing(uint64_t from, uint64_t to,
                                   const std::vector<HistoryEntry>& path, size_t limit = 100) const;
  std::string Name(uint32_t tli, uint64_t segno) const;

 private:
  uint64_t segment_size_ = pg::kDefaultWalSegmentSize;  // Load(repo, 0) names WAL with the default
  std::map<uint32_t, std::set<uint64_t>> segments_;
  std::set<uint32_t> histories_;
};

// Per timeline: what is archived and what is missing. Gaps are counted from `from_segno` (the
// oldest backup's start segment; nullopt = the timeline's first archived segment) or from where
// the timeline begins, whichever is later, up to the newest archived segment of the timeline.
struct TimelineRange {
  uint32_t tli = 0;
  std::optional<HistoryEntry> parent;  // the timeline it branched from and where
  std::string first, last;             // archived segment names ("" when none)
  uint64_t segments = 0;
  uint64_t missing = 0;           // segments missing in the checked range
  std::vector<std::string> gaps;  // "A" or "A .. B" for each run of missing segments
  std::string history_damage;     // why its history file cannot be read ("" when it can)
};
Result<std::vector<TimelineRange>> DescribeTimelines(Repository& repo, const WalIndex& index,
                                                     std::optional<uint64_t> from_segno);

// The segment number of the newest WAL cut that expire recorded on a backup still in `listed`
// (catalog kind walcut), or nullopt. WAL before it was trimmed on purpose: only the kept
// backups' own ranges remain there (retention/wal_gc.h).
Result<std::optional<uint64_t>> NewestWalCut(Repository& repo,
                                             const std::vector<ListedBackup>& listed,
                                             uint64_t segment_size);

// DescribeTimelines from the oldest backup's first segment (or the first archived one when there
// is no backup), or from the newest WAL cut expire recorded (catalog kind walcut) when later:
// WAL before it was trimmed on purpose, and verify checks each backup's own WAL. segment_size: the
// cluster's when the caller knows it (check asks the server), or 0; set from the oldest backup's
// header when there is one, else, when 0, to pg::kDefaultWalSegmentSize (only names are compared
// then: no backup needs the WAL).
Result<std::vector<TimelineRange>> DescribeArchive(Repository& repo, uint64_t& segment_size);

}  // namespace pgvault::repo

#include "repo/wal_ranges.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "pg/wal_names.h"
#include "repo/catalog.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/wal_store.h"

namespace pgvault::repo {

Result<std::vector<HistoryEntry>> ParseHistory(std::string_view text) {
  std::vector<HistoryEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    char* rest = nullptr;
    unsigned long tli = std::strtoul(line.c_str() + first, &rest, 10);
    size_t lsn_start = line.find_first_not_of(" \t", static_cast<size_t>(rest - line.c_str()));
    size_t lsn_end = line.find_first_of(" \t\r", lsn_start);
    std::optional<uint64_t> lsn;
    // strtoul also takes a sign and wraps; a timeline is 1 .. UINT32_MAX in plain digits.
    bool digit = line[first] >= '0' && line[first] <= '9';
    if (digit && tli > 0 && tli <= UINT32_MAX && lsn_start != std::string::npos)
      lsn = pg::ParseLsn(line.substr(
          lsn_start, lsn_end == std::string::npos ? std::string::npos : lsn_end - lsn_start));
    if (!lsn) return Status::Corruption(fmt::format("bad timeline history line '{}'", line));
    size_t reason = lsn_end == std::string::npos ? lsn_end : line.find_first_not_of(" \t", lsn_end);
    size_t reason_end = line.find_last_not_of(" \t\r");
    out.push_back(
        {static_cast<uint32_t>(tli), *lsn,
         reason == std::string::npos ? "" : line.substr(reason, reason_end + 1 - reason)});
  }
  return out;
}

std::vector<HistoryEntry> TimelinePath(uint32_t tli, const std::vector<HistoryEntry>& history) {
  std::vector<HistoryEntry> path = history;
  path.push_back({tli, UINT64_MAX, ""});
  return path;
}

Result<WalIndex> WalIndex::Load(Repository& repo, uint64_t segment_size) {
  WalIndex index;
  if (segment_size > 0) index.segment_size_ = segment_size;
  PGV_ASSIGN_OR_RETURN(auto files, repo.ListWal());
  for (const auto& f : files) {
    auto kind = pg::ClassifyWalFileName(f.name);
    uint32_t tli = pg::TimelineOfWalFile(f.name);
    if (kind == pg::WalFileKind::kHistory) {
      index.histories_.insert(tli);
      index.segments_[tli];
    } else if (kind == pg::WalFileKind::kSegment) {
      uint64_t segno = 0;
      pg::ParseSegmentName(f.name, tli, segno, index.segment_size_);
      index.segments_[tli].insert(segno);
    }
  }
  return index;
}

std::vector<uint32_t> WalIndex::Timelines() const {
  std::vector<uint32_t> out;
  for (const auto& [tli, segs] : segments_) out.push_back(tli);
  return out;
}

const std::set<uint64_t>& WalIndex::Segments(uint32_t tli) const {
  static const std::set<uint64_t> kEmpty;
  auto it = segments_.find(tli);
  return it == segments_.end() ? kEmpty : it->second;
}

bool WalIndex::HasSegment(uint32_t tli, uint64_t segno) const {
  return Segments(tli).count(segno) > 0;
}

uint32_t WalIndex::LatestTimeline() const {
  return segments_.empty() ? 1 : segments_.rbegin()->first;
}

Result<std::vector<HistoryEntry>> WalIndex::History(Repository& repo, uint32_t tli) const {
  if (tli <= 1 || !HasHistory(tli)) return std::vector<HistoryEntry>{};
  std::string name = fmt::format("{:08X}.history", tli);
  PGV_ASSIGN_OR_RETURN(Bytes text, GetWal(repo, name));
  auto parsed = ParseHistory(AsString(text));
  if (!parsed.ok()) return parsed.status().Context(fmt::format("reading '{}'", name));
  return parsed;
}

uint32_t WalIndex::TimelineFor(uint64_t segno, const std::vector<HistoryEntry>& path,
                               uint64_t segment_size) {
  for (size_t idx = path.size(); idx-- > 0;) {
    uint64_t begin_lsn = idx == 0 ? 0 : path[idx - 1].switch_lsn;
    if (segno >= begin_lsn / segment_size) return path[idx].tli;
  }
  return path.empty() ? 1 : path.front().tli;
}

std::vector<std::string> WalIndex::Missing(uint64_t from, uint64_t to,
                                           const std::vector<HistoryEntry>& path,
                                           size_t limit) const {
  std::vector<std::string> out;
  for (uint64_t segno = from; segno <= to && out.size() < limit; ++segno) {
    uint32_t tli = TimelineFor(segno, path, segment_size_);
    if (!HasSegment(tli, segno)) out.push_back(Name(tli, segno));
  }
  return out;
}

std::string WalIndex::Name(uint32_t tli, uint64_t segno) const {
  return pg::SegmentName(tli, segno * segment_size_, segment_size_);
}

Result<std::vector<TimelineRange>> DescribeTimelines(Repository& repo, const WalIndex& index,
                                                     std::optional<uint64_t> from_segno) {
  std::vector<TimelineRange> out;
  for (uint32_t tli : index.Timelines()) {
    TimelineRange range;
    range.tli = tli;
    // A damaged history file is reported with its timeline (verify and restore name it too);
    // the rest of the archive is still described.
    auto read = index.History(repo, tli);
    if (!read.ok() && read.status().code() != Code::kCorruption) return read.status();
    if (!read.ok()) range.history_damage = read.status().message();
    std::vector<HistoryEntry> history;
    if (read.ok()) history = std::move(read).value();
    uint64_t begin = 0;
    if (!history.empty()) {
      range.parent = history.back();
      begin = history.back().switch_lsn / index.segment_size();
    }
    const auto& segs = index.Segments(tli);
    range.segments = segs.size();
    if (!segs.empty()) {
      range.first = index.Name(tli, *segs.begin());
      range.last = index.Name(tli, *segs.rbegin());
      uint64_t from = std::max(begin, from_segno.value_or(*segs.begin()));
      if (tli > 1 && history.empty()) from = std::max(from, *segs.begin());
      std::optional<uint64_t> run_start;
      for (uint64_t segno = from; segno <= *segs.rbegin() + 1; ++segno) {
        bool have = segno > *segs.rbegin() || segs.count(segno) > 0;
        if (!have) {
          range.missing++;
          if (!run_start) run_start = segno;
        } else if (run_start) {
          range.gaps.push_back(segno - 1 == *run_start ? index.Name(tli, *run_start)
                                                       : index.Name(tli, *run_start) + " .. " +
                                                             index.Name(tli, segno - 1));
          run_start.reset();
        }
      }
    }
    out.push_back(std::move(range));
  }
  return out;
}

Result<std::optional<uint64_t>> NewestWalCut(Repository& repo,
                                             const std::vector<ListedBackup>& listed,
                                             uint64_t segment_size) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(kCatalogPrefix));
  std::set<std::string> ids;
  for (const auto& obj : objects) {
    auto name = ParseCatalogRecordKey(obj.key);
    if (name && name->kind == RecordKindName(RecordKind::kWalCut)) ids.insert(name->backup_id);
  }
  std::optional<uint64_t> newest;
  for (const auto& b : listed) {
    if (!b.intact() || !ids.count(b.id)) continue;
    PGV_ASSIGN_OR_RETURN(auto records, ListCatalogRecords(repo, b.id));
    for (const auto& r : records) {
      if (r.kind != RecordKind::kWalCut || !r.body.contains("cut") || !r.body["cut"].is_string())
        continue;
      uint32_t tli;
      uint64_t segno;
      if (pg::ParseSegmentName(r.body["cut"].get<std::string>(), tli, segno, segment_size))
        newest = std::max(newest.value_or(0), segno);
    }
  }
  return newest;
}

Result<std::vector<TimelineRange>> DescribeArchive(Repository& repo, uint64_t& segment_size) {
  std::optional<uint64_t> from_segno;
  // From the oldest backup that can be restored: a damaged one's header cannot be read.
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  auto intact =
      std::find_if(listed.begin(), listed.end(), [](const ListedBackup& b) { return b.intact(); });
  if (intact != listed.end()) {
    const ManifestHeader& oldest = *intact->header;
    segment_size = oldest.wal_segment_size;
    uint32_t tli;
    uint64_t segno;
    if (pg::ParseSegmentName(oldest.start_wal, tli, segno, segment_size)) from_segno = segno;
  } else if (segment_size == 0) {
    // No backup: the size archive-push recorded for the cluster, else PostgreSQL's default.
    PGV_ASSIGN_OR_RETURN(segment_size, repo.RecordedWalSegmentSize());
    if (segment_size == 0) segment_size = pg::kDefaultWalSegmentSize;
  }
  if (from_segno) {
    PGV_ASSIGN_OR_RETURN(auto cut, NewestWalCut(repo, listed, segment_size));
    if (cut && *cut > *from_segno) from_segno = cut;
  }
  PGV_ASSIGN_OR_RETURN(auto index, WalIndex::Load(repo, segment_size));
  return DescribeTimelines(repo, index, from_segno);
}

}  // namespace pgvault::repo

// Recovery targets: validation, and choosing the backup that can reach one.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "common/log.h"
#include "pg/wal_names.h"
#include "repo/manifest.h"
#include "repo/wal_ranges.h"
#include "restore/restore.h"

namespace pgvault::restore {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t idx = pos; idx < pos + n; ++idx)
    if (s[idx] < '0' || s[idx] > '9') return false;
  return true;
}

int Num(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t idx = pos; idx < pos + n; ++idx) v = v * 10 + (s[idx] - '0');
  return v;
}

}  // namespace

std::optional<int64_t> ParseTargetTime(std::string_view s) {
  // 2024-05-01 14:31:07[.123456](Z|+02|+02:00|+0200)
  if (!Digits(s, 0, 4) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2) || s[7] != '-' ||
      !Digits(s, 8, 2) || (s[10] != ' ' && s[10] != 'T') || !Digits(s, 11, 2) || s[13] != ':' ||
      !Digits(s, 14, 2) || s[16] != ':' || !Digits(s, 17, 2))
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = Num(s, 0, 4) - 1900;
  tm.tm_mon = Num(s, 5, 2) - 1;
  tm.tm_mday = Num(s, 8, 2);
  tm.tm_hour = Num(s, 11, 2);
  tm.tm_min = Num(s, 14, 2);
  tm.tm_sec = Num(s, 17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t digits = 0;
    pos++;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[pos] - '0');
      digits++, pos++;
    }
    if (digits == 0) return std::nullopt;
    for (size_t pad = digits; pad < 6; ++pad) micros *= 10;
  }
  if (pos < s.size() && s[pos] == ' ') pos++;
  int64_t offset_seconds = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    offset_seconds = 0;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-') && Digits(s, pos + 1, 2)) {
    int sign = s[pos] == '-' ? -1 : 1;
    int hours = Num(s, pos + 1, 2), minutes = 0;
    size_t rest = pos + 3;
    if (rest < s.size() && s[rest] == ':') rest++;
    if (rest < s.size()) {
      if (!Digits(s, rest, 2) || rest + 2 != s.size()) return std::nullopt;
      minutes = Num(s, rest, 2);
    }
    offset_seconds = sign * (hours * 3600 + minutes * 60);
  } else {
    return std::nullopt;
  }
  int64_t unix_seconds = static_cast<int64_t>(::timegm(&tm)) - offset_seconds;
  return unix_seconds * 1000000 + micros;
}

Status ValidateTarget(RecoveryTarget& t) {
  using Kind = RecoveryTarget::Kind;
  switch (t.kind) {
    case Kind::kTime: {
      auto micros = ParseTargetTime(t.value);
      if (!micros)
        return std::move(Status::InvalidArgument(fmt::format("bad --target-time '{}'", t.value)))
            .WithHint("give a time with its zone, e.g. --target-time '2024-05-01 14:31:07.25+00'");
      t.time_unix_micros = *micros;
      break;
    }
    case Kind::kLsn: {
      auto lsn = pg::ParseLsn(t.value);
      if (!lsn)
        return std::move(Status::InvalidArgument(fmt::format("bad --target-lsn '{}'", t.value)))
            .WithHint("give an LSN as PostgreSQL prints it, e.g. --target-lsn 0/3000158");
      t.lsn = *lsn;
      break;
    }
    case Kind::kXid:
      if (t.value.empty() || t.value.find_first_not_of("0123456789") != std::string::npos ||
          t.value.size() > 19)
        return std::move(Status::InvalidArgument(fmt::format("bad --target-xid '{}'", t.value)))
            .WithHint("give a transaction id as txid_current() returns it, e.g. --target-xid 1234");
      break;
    case Kind::kName:
      if (t.value.empty() || t.value.size() > 63)
        return std::move(
                   Status::InvalidArgument("bad --target-name: empty or longer than 63 bytes"))
            .WithHint("give the name passed to pg_create_restore_point()");
      break;
    case Kind::kImmediate:
    case Kind::kEndOfWal:
      break;
  }
  if (t.inclusive &&
      (t.kind == Kind::kEndOfWal || t.kind == Kind::kImmediate || t.kind == Kind::kName))
    return std::
        move(Status::InvalidArgument(
                 "--target-inclusive applies only to --target-time, --target-lsn and --target-xid"))
            .WithHint("drop --target-inclusive");
  if (!t.action.empty() && t.kind == Kind::kEndOfWal)
    return std::move(Status::InvalidArgument("--target-action needs a recovery target"))
        .WithHint(
            "add --target-time, --target-lsn, --target-xid, --target-name or "
            "--target-immediate; without one, recovery replays all WAL and promotes");
  if (!t.timeline.empty() && t.timeline != "latest" && t.timeline != "current") {
    bool digits =
        t.timeline.find_first_not_of("0123456789") == std::string::npos && t.timeline.size() <= 10;
    if (!digits || std::strtoull(t.timeline.c_str(), nullptr, 10) == 0 ||
        std::strtoull(t.timeline.c_str(), nullptr, 10) > UINT32_MAX)
      return std::move(
                 Status::InvalidArgument(fmt::format("bad --target-timeline '{}'", t.timeline)))
          .WithHint("use latest, current or a timeline number such as 2");
  }
  return Status::Ok();
}

std::string DescribeTarget(const RecoveryTarget& t) {
  using Kind = RecoveryTarget::Kind;
  switch (t.kind) {
    case Kind::kTime:
      return fmt::format("time '{}'", t.value);
    case Kind::kLsn:
      return fmt::format("lsn {}", t.value);
    case Kind::kXid:
      return fmt::format("xid {}", t.value);
    case Kind::kName:
      return fmt::format("restore point '{}'", t.value);
    case Kind::kImmediate:
      return "the end of the backup";
    case Kind::kEndOfWal:
      return "the end of the archived WAL";
  }
  return "?";
}

namespace {

struct Candidate {
  std::string id;
  uint32_t timeline = 0;
  uint64_t stop_lsn = 0;
  int64_t stop_micros = 0;
  std::string stop_time;
  std::string stop_lsn_text;
  std::optional<uint64_t> start_lsn;
  uint64_t segment_size = 0;
};

// With no --target-timeline PostgreSQL follows the newest timeline ("latest"). When that timeline
// branched from one that the archive shows going on past the branch point, there are two
// histories after that point, and nothing says which one the user means: typically a restore
// that promoted (a test, a rehearsal) archived its new timeline into this repository while the
// source went on. Following the branch would then stop on the restore's data or fail asking for
// its WAL. Unless a backup was taken on the branch (then it is the cluster's own history), refuse
// and name both. path: the latest timeline's, oldest first.
Status CheckAmbiguousBranch(const repo::WalIndex& index,
                            const std::vector<repo::HistoryEntry>& path,
                            const std::vector<uint32_t>& backup_timelines) {
  for (size_t idx = 0; idx + 1 < path.size(); ++idx) {
    const repo::HistoryEntry& parent = path[idx];
    uint32_t branch = path[idx + 1].tli;
    const auto& segments = index.Segments(parent.tli);
    uint64_t switch_segno = parent.switch_lsn / index.segment_size();
    if (segments.empty() || *segments.rbegin() <= switch_segno) continue;
    bool backed_up = false;
    for (uint32_t backup_tli : backup_timelines) backed_up |= backup_tli >= branch;
    if (backed_up) continue;
    return std::move(Status::InvalidArgument(fmt::format(
                         "timeline {} in the repository branched from timeline {} at {} "
                         "(PostgreSQL's reason: '{}'), "
                         "but timeline {} goes on past that point to '{}': probably an earlier "
                         "restore that was promoted and archived into this repository",
                         branch, parent.tli, pg::FormatLsn(parent.switch_lsn), parent.reason,
                         parent.tli, index.Name(parent.tli, *segments.rbegin()))))
        .WithHint(fmt::format(
            "pass --target-timeline {} to recover along timeline {}, or --target-timeline latest "
            "to follow timeline {}; nothing was written",
            parent.tli, parent.tli, path.back().tli));
  }
  return Status::Ok();
}

// The intact backups a restore may start from (only requested_id when given), oldest first.
// backup_timelines gets every intact backup's timeline, also with --backup: a backup on a branch
// proves the branch is the cluster's own history.
Result<std::vector<Candidate>> ListCandidates(repo::Repository& repo,
                                              const std::string& requested_id,
                                              std::vector<uint32_t>& backup_timelines) {
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  if (listed.empty())
    return std::move(
               Status::NotFound(fmt::format("repository '{}' holds no backup", repo.Describe())))
        .WithHint("take one with: pgvault backup --pgdata DIR");
  auto requested = std::find_if(listed.begin(), listed.end(),
                                [&](const repo::ListedBackup& b) { return b.id == requested_id; });
  if (!requested_id.empty() && requested == listed.end())
    return std::move(Status::NotFound(fmt::format("backup '{}' is not in repository '{}'",
                                                  requested_id, repo.Describe())))
        .WithHint("list backups with: pgvault info");
  if (!requested_id.empty() && !requested->intact())
    return std::move(Status::Corruption(requested->damage))
        .WithHint(repo::DamagedBackupHint(requested_id) + "; nothing was written");
  std::vector<Candidate> all;
  for (const auto& backup : listed) {
    const std::string& id = backup.id;
    if (backup.intact()) backup_timelines.push_back(backup.header->timeline);
    if (!requested_id.empty() && id != requested_id) continue;
    if (!backup.intact()) {
      log::Warn("skipping damaged backup '{}': {}", id, backup.damage);
      continue;
    }
    const repo::ManifestHeader& h = *backup.header;
    all.push_back(Candidate{.id = id,
                            .timeline = h.timeline,
                            .stop_lsn = h.stop_lsn,
                            .stop_micros = h.stop_time_unix_micros,
                            .stop_time = h.stop_time,
                            .stop_lsn_text = pg::FormatLsn(h.stop_lsn),
                            .start_lsn = h.start_lsn,
                            .segment_size = h.wal_segment_size});
  }
  if (all.empty())
    return std::move(Status::Corruption(fmt::format("every backup in repository '{}' is damaged",
                                                    repo.Describe())))
        .WithHint("'pgvault info' lists them and why; take a new backup");
  return all;
}

// plan.timeline and plan.path for a recovery along `tli`. A timeline the user named needs its
// history file; for a backup's own timeline ("current") a missing one only leaves the path that
// timeline alone.
Status FollowTimeline(repo::Repository& repo, uint32_t tli, bool need_history, RestorePlan& plan) {
  PGV_ASSIGN_OR_RETURN(auto history, plan.wal.History(repo, tli));
  if (need_history && tli > 1 && history.empty())
    return std::move(
               Status::NotFound(fmt::format(
                   "timeline {} has no history file '{:08X}.history' in the repository", tli, tli)))
        .WithHint(
            "check --target-timeline ('pgvault info' lists the timelines); a lost history file "
            "can come back from a replica with repo-sync; nothing was written");
  plan.timeline = tli;
  plan.path = repo::TimelinePath(tli, history);
  return Status::Ok();
}

Status NoBackupReaches(const std::vector<Candidate>& all, const RecoveryTarget& target,
                       const std::string& requested_id, bool on_path,
                       const std::string& timeline_text) {
  const Candidate& oldest = all.front();
  if (!requested_id.empty() && !on_path)
    return std::move(Status::InvalidArgument(fmt::format(
                         "backup '{}' (timeline {}) is not on the history of the target timeline{}",
                         oldest.id, oldest.timeline, timeline_text)))
        .WithHint("choose another --backup or --target-timeline; nothing was written");
  return std::move(Status::NotFound(
                       fmt::format("no backup{} can reach {}: {} backup '{}' ends at {} (lsn {})",
                                   requested_id.empty() ? "" : " chosen", DescribeTarget(target),
                                   requested_id.empty() ? "the oldest" : "the", oldest.id,
                                   oldest.stop_time, oldest.stop_lsn_text)))
      .WithHint(requested_id.empty()
                    ? "choose a later target; nothing was written"
                    : "choose an older --backup or leave it out; nothing was written");
}

}  // namespace

Result<RestorePlan> ChooseBackup(repo::Repository& repo, const RecoveryTarget& target,
                                 const std::string& requested_id) {
  using Kind = RecoveryTarget::Kind;
  std::vector<uint32_t> backup_timelines;
  PGV_ASSIGN_OR_RETURN(std::vector<Candidate> all,
                       ListCandidates(repo, requested_id, backup_timelines));
  RestorePlan plan;
  // The timeline recovery will end on, and its history, decide which backups lie on its path.
  // "current" follows each backup's own timeline, so every backup qualifies.
  bool follow_own = target.timeline == "current";
  std::string timeline_text;
  if (!follow_own) {
    PGV_ASSIGN_OR_RETURN(plan.wal, repo::WalIndex::Load(repo, all.back().segment_size));
    bool latest = target.timeline.empty() || target.timeline == "latest";
    uint32_t tli = latest
                       ? plan.wal.LatestTimeline()
                       : static_cast<uint32_t>(std::strtoul(target.timeline.c_str(), nullptr, 10));
    // The latest timeline may lack its history file where the repository began on it (nothing
    // older is here); where older timelines are, the lost file is where it branched: refused.
    bool older = false;
    for (uint32_t t : plan.wal.Timelines()) older |= t < tli;
    for (uint32_t t : backup_timelines) older |= t < tli;
    PGV_RETURN_IF_ERROR(FollowTimeline(repo, tli, !latest || older, plan));
    timeline_text = fmt::format(" on timeline {}", tli);
    if (target.timeline.empty())
      PGV_RETURN_IF_ERROR(CheckAmbiguousBranch(plan.wal, plan.path, backup_timelines));
  }
  auto on_path = [&](const Candidate& c) {
    if (follow_own) return true;
    for (const auto& step : plan.path)
      if (step.tli == c.timeline) return c.stop_lsn <= step.switch_lsn;
    return false;
  };
  auto reaches = [&](const Candidate& c) {
    if (target.kind == Kind::kTime) return c.stop_micros < target.time_unix_micros;
    if (target.kind == Kind::kLsn) return c.stop_lsn <= target.lsn;
    return true;
  };
  auto chosen = std::find_if(all.rbegin(), all.rend(),
                             [&](const Candidate& c) { return on_path(c) && reaches(c); });
  if (chosen == all.rend())
    return NoBackupReaches(all, target, requested_id, on_path(all.front()), timeline_text);

  plan.backup_id = chosen->id;
  if (!requested_id.empty())
    plan.reason = "requested with --backup";
  else if (target.kind == Kind::kTime || target.kind == Kind::kLsn)
    plan.reason =
        fmt::format("newest backup{} that ends before {}", timeline_text, DescribeTarget(target));
  else
    plan.reason = fmt::format("newest backup{}", timeline_text);
  plan.backup_timeline = chosen->timeline;
  plan.start_lsn = chosen->start_lsn;
  if (chosen->stop_lsn != UINT64_MAX) plan.stop_lsn = chosen->stop_lsn;
  plan.segment_size = chosen->segment_size;
  // The WAL is named by the chosen backup's segment size (the cluster's: normally every
  // backup's); "current" listed nothing yet.
  if (follow_own || plan.wal.segment_size() != plan.segment_size) {
    PGV_ASSIGN_OR_RETURN(plan.wal, repo::WalIndex::Load(repo, plan.segment_size));
  }
  if (follow_own) PGV_RETURN_IF_ERROR(FollowTimeline(repo, plan.backup_timeline, false, plan));
  return plan;
}

}  // namespace pgvault::restore

namespace pgvault::restore {
namespace {

// The segment number of a header's stop LSN.
uint64_t StopSegno(const repo::ManifestHeader& h, uint64_t segment_size) {
  return h.stop_lsn / segment_size;
}

// Refuses a time or LSN target that backup `plan.backup_id`, which ends before the WAL cut at
// segment `cut`, cannot reach; the hint names the oldest backup that can, or the window's first.
Status UnreachableTarget(const RestorePlan& plan, const RecoveryTarget& target,
                         const std::vector<repo::ListedBackup>& listed, uint64_t cut) {
  const repo::ListedBackup* window_first = nullptr;
  const repo::ListedBackup* reaches = nullptr;
  for (const auto& b : listed) {
    if (!b.intact() || StopSegno(*b.header, plan.segment_size) + 1 < cut) continue;
    if (!window_first) window_first = &b;
    bool before = target.kind == RecoveryTarget::Kind::kTime
                      ? b.header->stop_time_unix_micros < target.time_unix_micros
                      : b.header->stop_lsn <= target.lsn;
    if (before && !reaches) reaches = &b;
  }
  std::string own_end =
      fmt::format("restore backup {} to its end with --target-immediate", plan.backup_id);
  std::string hint;
  if (reaches)
    hint = fmt::format(
        "backup {} is the oldest backup that can reach it: pass --backup {} (or leave --backup "
        "out); or {}",
        reaches->id, reaches->id, own_end);
  else if (window_first)
    hint = fmt::format(
        "no backup can reach it: the PITR window starts with backup {}, which ends at {}; choose a "
        "later target, or {}",
        window_first->id, window_first->header->stop_time, own_end);
  else
    hint = own_end;
  return std::move(Status::InvalidArgument(fmt::format(
                       "backup '{}' is older than the PITR window: expire kept only its own WAL, "
                       "which ends at lsn {}, so recovery cannot reach {}",
                       plan.backup_id, pg::FormatLsn(*plan.stop_lsn), DescribeTarget(target))))
      .WithHint(hint + "; nothing was written");
}

}  // namespace

Result<std::string> FitTargetToKeptWal(repo::Repository& repo, const RestorePlan& plan,
                                       RecoveryTarget& target) {
  using Kind = RecoveryTarget::Kind;
  if (!plan.stop_lsn || plan.segment_size == 0 || target.kind == Kind::kImmediate)
    return std::string();
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  PGV_ASSIGN_OR_RETURN(auto cut, repo::NewestWalCut(repo, listed, plan.segment_size));
  uint64_t stop = *plan.stop_lsn / plan.segment_size;
  // Only the backup's own WAL (to the segment after its stop) is left before the cut; another
  // kept backup's range may bridge the rest, so the gap itself decides.
  if (!cut || stop + 1 >= *cut || plan.wal.Missing(stop + 1, *cut - 1, plan.path, 1).empty())
    return std::string();
  switch (target.kind) {
    case Kind::kEndOfWal:
      // Replaying "all WAL" would stop at the first trimmed segment with archive-get's error.
      // The end of the backup is what can be reached; promote as recovery without a target does.
      target.kind = Kind::kImmediate;
      if (target.action.empty()) target.action = "promote";
      return fmt::format(
          "backup {} is older than the PITR window: restoring to its end (recovery_target = "
          "'immediate')",
          plan.backup_id);
    case Kind::kXid:
    case Kind::kName:
      log::Warn(
          "backup '{}' is older than the PITR window: recovery reaches {} only if it lies in the "
          "backup's own WAL (to lsn {} and the segment after)",
          plan.backup_id, DescribeTarget(target), pg::FormatLsn(*plan.stop_lsn));
      return std::string();
    case Kind::kLsn:
      // Inside the backup's own WAL (with the segment holding the record after the target).
      if (plan.wal
              .Missing(stop + 1, std::min(target.lsn / plan.segment_size + 1, *cut - 1), plan.path,
                       1)
              .empty())
        return std::string();
      break;
    default:
      break;
  }
  return UnreachableTarget(plan, target, listed, *cut);
}

}  // namespace pgvault::restore

#include "cli/report_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "common/time.h"
#include "pg/wal_names.h"

namespace pgvault::cli {
namespace {

using nlohmann::json;

double Ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

json PageErrorsJson(const std::vector<repo::PageChecksumError>& errors) {
  json out = json::array();
  for (const auto& e : errors)
    out.push_back(
        {{"path", e.path}, {"block", e.block}, {"stored", e.stored}, {"computed", e.computed}});
  return out;
}

// "" when no page failed; else a line per page that failed its checksum (the manifest keeps
// the first repo::kMaxPageChecksumErrors).
std::string PageErrorsText(const repo::ManifestHeader& h) {
  if (h.stats.pages_failed == 0) return "";
  std::string out = fmt::format("  PAGE CHECKSUMS: {} of {} pages failed\n", h.stats.pages_failed,
                                h.stats.pages_checked);
  for (const auto& e : h.page_checksum_errors)
    out += fmt::format("    '{}' block {}: stored {}, computed {}\n", e.path, e.block, e.stored,
                       e.computed);
  if (h.page_checksum_errors.size() < h.stats.pages_failed)
    out += fmt::format("    ... {} more not listed\n",
                       h.stats.pages_failed - h.page_checksum_errors.size());
  return out;
}

json RetentionJson(const info::BackupRetention& r) {
  json tiers = json::array();
  for (auto t : r.tiers) tiers.push_back(std::string(retention::TierName(t)));
  return {{"tiers", tiers},
          {"retention_date",
           r.retention_micros > 0 ? json(FormatIsoMicros(r.retention_micros)) : json(nullptr)},
          {"pinned", r.pinned},
          {"legal_hold", r.held}};
}

std::string RetentionText(const info::BackupRetention& r) {
  std::string out = "  tiers " + retention::TierList(r.tiers);
  if (r.retention_micros > 0) out += ", retention date " + FormatIsoMicros(r.retention_micros);
  if (r.pinned) out += ", pinned";
  if (r.held) out += ", on legal hold";
  return out + "\n";
}

json BackupJson(const repo::ListedBackup& backup) {
  // A damaged backup is listed, so that it can be expired, but nothing from its manifest can be
  // trusted.
  if (!backup.intact())
    return {{"id", backup.id}, {"status", "damaged"}, {"reason", backup.damage}};
  const repo::ManifestHeader& h = *backup.header;
  const repo::BackupStats& s = h.stats;
  json tablespaces = json::array();
  for (const auto& ts : h.tablespaces)
    tablespaces.push_back({{"oid", ts.oid}, {"location", ts.location}});
  double logical = s.bytes_read + s.bytes_unchanged, raw_new = s.bytes_new_raw,
         stored_new = s.bytes_new;
  return {
      {"id", backup.id},
      {"status", "ok"},
      {"type", h.type},
      {"parent", h.parent ? json(*h.parent) : json(nullptr)},
      {"start_time", h.start_time},
      {"stop_time", h.stop_time},
      {"start_lsn", pg::FormatLsn(h.start_lsn)},
      {"stop_lsn", pg::FormatLsn(h.stop_lsn)},
      {"start_wal", h.start_wal},
      {"stop_wal", h.stop_wal},
      {"timeline", h.timeline},
      {"pg_version", h.pg_version},
      {"system_identifier", h.system_identifier},
      {"files", s.files},
      {"bytes_read", s.bytes_read},
      {"files_unchanged", s.files_unchanged},
      {"bytes_unchanged", s.bytes_unchanged},
      {"bytes_new", s.bytes_new},
      {"bytes_new_raw", s.bytes_new_raw},
      {"dedup_ratio", Ratio(logical, raw_new)},
      {"compression_ratio", Ratio(raw_new, stored_new)},
      {"duration_seconds", s.duration_seconds},
      {"encrypted", h.cipher != "none"},
      {"tablespaces", tablespaces},
      {"data_checksums", h.data_checksums},
      {"pages_checked", s.pages_checked},
      {"pages_failed", s.pages_failed},
      {"page_checksum_errors", PageErrorsJson(h.page_checksum_errors)},
  };
}

// The newest verify and drill of a backup: null when none was recorded.
void AddRecords(const info::RepoInfo& info, const std::string& id, json& backup) {
  backup["last_verify"] = nullptr;
  backup["last_drill"] = nullptr;
  auto it = info.records.find(id);
  if (it == info.records.end()) return;
  const info::BackupRecords& r = it->second;
  if (r.verify) backup["last_verify"] = repo::VerifyRecordToJson(*r.verify);
  if (r.drill) backup["last_drill"] = repo::DrillRecordToJson(*r.drill);
  if (!r.damage.empty()) backup["catalog_damage"] = r.damage;
}

std::string RecordsText(const info::RepoInfo& info, const std::string& id) {
  auto it = info.records.find(id);
  if (it == info.records.end()) return "";
  const info::BackupRecords& r = it->second;
  std::string out;
  if (r.verify)
    out += fmt::format(
        "  last verify: {} at {} ({:.1f} MB read{}, {} problems)\n",
        r.verify->passed ? "PASSED" : "FAILED", r.verify->time, r.verify->bytes_read / 1e6,
        r.verify->sample_percent < 100 ? fmt::format(", {:g}% sample", r.verify->sample_percent)
                                       : "",
        r.verify->problems.size());
  if (r.drill)
    out +=
        fmt::format("  last drill: {} at {}, RTO {:.1f} s (restore {:.1f} s, replay {:.1f} s){}\n",
                    r.drill->passed ? "PASSED" : "FAILED", r.drill->time, r.drill->rto_seconds,
                    r.drill->restore_seconds, r.drill->replay_seconds,
                    r.drill->passed ? "" : ": " + r.drill->failed);
  if (!r.damage.empty()) out += fmt::format("  catalog: DAMAGED: {}\n", r.damage);
  return out;
}

std::string BackupText(const repo::ListedBackup& backup) {
  if (!backup.intact())
    return fmt::format("backup {}: DAMAGED: {}\n  HINT: {}\n", backup.id, backup.damage,
                       repo::DamagedBackupHint(backup.id));
  const repo::ManifestHeader& h = *backup.header;
  const repo::BackupStats& s = h.stats;
  double logical = s.bytes_read + s.bytes_unchanged, raw_new = s.bytes_new_raw,
         stored_new = s.bytes_new;
  return fmt::format(
             "backup {} ({}): {} .. {}, lsn {} .. {}, timeline {}, {} files, {:.1f} MB "
             "read, {:.1f} MB new, dedup {:.1f}x, compression {:.1f}x\n",
             backup.id, h.type, h.start_time, h.stop_time, pg::FormatLsn(h.start_lsn),
             pg::FormatLsn(h.stop_lsn), h.timeline, s.files, s.bytes_read / 1e6, stored_new / 1e6,
             Ratio(logical, raw_new), Ratio(raw_new, stored_new)) +
         PageErrorsText(h);
}

std::string TimelineText(const repo::TimelineRange& t) {
  std::string branch;
  if (t.parent)
    branch = fmt::format(" (from timeline {} at {})", t.parent->tli,
                         pg::FormatLsn(t.parent->switch_lsn));
  std::string gaps = "no gaps";
  if (t.missing > 0) {
    gaps = fmt::format("GAP: {} segments missing:", t.missing);
    for (const auto& g : t.gaps) gaps += " " + g;
  }
  if (!t.history_damage.empty()) branch = fmt::format(" (DAMAGED history: {})", t.history_damage);
  return fmt::format("wal timeline {}{}: {} segments, {} .. {}, {}\n", t.tli, branch, t.segments,
                     t.first.empty() ? "-" : t.first, t.last.empty() ? "-" : t.last, gaps);
}

}  // namespace

json InfoJson(const info::RepoInfo& info) {
  json backups = json::array();
  for (const auto& b : info.backups) {
    json backup = BackupJson(b);
    if (b.intact()) AddRecords(info, b.id, backup);  // a damaged one keeps its three fields
    if (auto it = info.retention.find(b.id); it != info.retention.end())
      backup.update(RetentionJson(it->second));
    backups.push_back(std::move(backup));
  }
  json timelines = json::array();
  for (const auto& r : info.timelines) {
    json t{{"timeline", r.tli},
           {"first", r.first},
           {"last", r.last},
           {"segments", r.segments},
           {"missing_segments", r.missing},
           {"gaps", r.gaps}};
    if (!r.history_damage.empty()) t["history_damage"] = r.history_damage;
    if (r.parent) {
      t["parent_timeline"] = r.parent->tli;
      t["switch_lsn"] = pg::FormatLsn(r.parent->switch_lsn);
    }
    timelines.push_back(t);
  }
  json wal = json::array();
  for (const auto& w : info.wal) {
    json t{{"timeline", w.timeline},
           {"segments", w.segments},
           {"bytes", w.bytes},
           {"history", w.history}};
    if (!w.first.empty()) t["first"] = w.first;  // only with a segment
    if (!w.last.empty()) t["last"] = w.last;
    wal.push_back(t);
  }
  json out = {{"repository", info.repository}, {"repo_id", info.repo_id},
              {"cipher", info.cipher},         {"compression", info.compression},
              {"block_size", info.block_size}, {"backups", backups},
              {"timelines", timelines},        {"wal", wal}};
  if (const auto& s = info.streaming)
    out["streaming"] = {{"segment", s->segment},
                        {"bytes", s->bytes},
                        {"lsn", pg::FormatLsn(s->lsn)},
                        {"stored_unix", s->stored_unix},
                        {"age_seconds", std::max<int64_t>(0, std::time(nullptr) - s->stored_unix)}};
  return out;
}

std::string InfoText(const info::RepoInfo& info) {
  std::string out =
      fmt::format("repository: {} (cipher {}, compression {}, block size {} KiB)\n",
                  info.repository, info.cipher, info.compression, info.block_size / 1024);
  if (info.backups.empty()) out += "no backups\n";
  for (const auto& b : info.backups) {
    out += BackupText(b);
    if (auto it = info.retention.find(b.id); it != info.retention.end())
      out += RetentionText(it->second);
    out += RecordsText(info, b.id);
  }
  for (const auto& t : info.timelines) out += TimelineText(t);
  if (const auto& s = info.streaming)
    out += fmt::format("wal-stream: stored up to {} ({} bytes of {}), {} s ago\n",
                       pg::FormatLsn(s->lsn), s->bytes, s->segment,
                       std::max<int64_t>(0, std::time(nullptr) - s->stored_unix));
  return out;
}

json VerifyJson(const verify::VerifyReport& r) {
  json backups = json::array();
  for (const auto& b : r.backups) {
    json j = repo::VerifyRecordToJson(verify::RecordFor(r, b));
    j["backup_id"] = b.backup_id;
    backups.push_back(std::move(j));
  }
  return {{"result", r.problem_count() == 0 ? "pass" : "fail"},
          {"seconds", r.seconds},
          {"sample_percent", r.sample_percent},
          {"backups", backups},
          {"wal",
           {{"files", r.wal_files},
            {"bytes", r.wal_bytes},
            {"missing_segments", r.wal_missing_segments},
            {"problems", r.wal_problems}}},
          {"object_problems", r.object_problems},
          {"warnings", r.warnings}};
}

json DrillJson(const drill::DrillResult& r) {
  return {{"backup_id", r.backup_id},
          {"scratch", r.scratch},
          {"recorded", r.recorded},
          {"drill", repo::DrillRecordToJson(r.record)}};
}

json HealthChecksJson(const std::vector<check::HealthCheck>& checks) {
  json out = json::array();
  for (const auto& c : checks) {
    json j{{"name", c.name}, {"verdict", check::VerdictName(c.verdict)}, {"value", c.value}};
    if (!c.hint.empty()) j["hint"] = c.hint;
    out.push_back(std::move(j));
  }
  return out;
}

json CheckJson(const check::CheckResult& r) {
  const check::ArchiverStatus& a = r.archiver;
  return {{"verdict", check::VerdictName(check::Worst(r.checks))},
          {"checks", HealthChecksJson(r.checks)},
          {"server", r.server},
          {"repository", r.repository},
          {"archive_command", r.archive_command},
          {"switched_segment", r.switched_segment},
          {"arrival_seconds", r.arrival_seconds},
          {"archiver",
           {{"archived_count", a.archived_count},
            {"failed_count", a.failed_count},
            {"last_archived_wal", a.last_archived_wal},
            {"last_archived_time", a.last_archived_time},
            {"last_failed_wal", a.last_failed_wal},
            {"last_failed_time", a.last_failed_time},
            {"seconds_since_last_archived", a.seconds_since_last_archived},
            {"current_wal", a.current_wal},
            {"ready_segments", a.ready_segments},
            {"lag_segments", a.lag_segments},
            {"lag_seconds", a.lag_seconds},
            {"failing", a.failing}}},
          {"wal_checked", r.wal_checked},
          {"wal_gaps", r.wal_gaps},
          {"missing_segments", r.missing_segments}};
}

std::string CheckText(const check::CheckResult& r) {
  const check::ArchiverStatus& a = r.archiver;
  std::string out;
  if (!r.switched_segment.empty() && r.arrival_seconds > 0)
    out += fmt::format("archive_command works: segment {} reached the repository in {:.2f} s\n",
                       r.switched_segment, r.arrival_seconds);
  if (!a.current_wal.empty())
    out += fmt::format(
        "archiver: {} archived, {} failed, last archived {} at {}, current WAL {}, lag {} "
        "segments ({} ready), {:.1f} s since the last archived segment\n",
        a.archived_count, a.failed_count, a.last_archived_wal, a.last_archived_time, a.current_wal,
        a.lag_segments, a.ready_segments, a.seconds_since_last_archived);
  if (!a.last_failed_wal.empty())
    out += fmt::format("archiver last failed on {} at {}\n", a.last_failed_wal, a.last_failed_time);
  if (!r.wal_checked) {
    // Not examined: the server was unreachable or serves another repository.
  } else if (r.missing_segments == 0) {
    out += "archived WAL is continuous from the oldest backup\n";
  } else {
    out += fmt::format("GAP: {} WAL segments missing from the archive:", r.missing_segments);
    for (const auto& g : r.wal_gaps) out += " " + g;
    out += "\n";
  }
  out += fmt::format("health: {}\n", check::VerdictName(check::Worst(r.checks)));
  for (const auto& c : r.checks) {
    out += fmt::format("  {:<8} {:<20} {}\n", check::VerdictName(c.verdict), c.name, c.value);
    if (!c.hint.empty()) out += fmt::format("           HINT: {}\n", c.hint);
  }
  return out;
}

nlohmann::json GcJson(const retention::GcResult& r) {
  return {{"dry_run", r.dry_run},
          {"packs", r.packs_total},
          {"bytes", r.bytes_total},
          {"packs_referenced", r.packs_live},
          {"bytes_referenced", r.bytes_live},
          {"packs_deleted", r.collected.packs_deleted},
          {"bytes_deleted", r.collected.bytes_deleted},
          {"packs_locked", r.collected.packs_locked},
          {"locked_examples", r.collected.locked_examples},
          {"packs_marked", r.packs_marked},
          {"mark", r.mark_key},
          {"marks_removed", r.marks_removed},
          {"skipped_running_backup", r.skipped_running},
          {"skipped_damaged_backup", r.skipped_damaged},
          {"redirects_deleted", r.redirects_deleted},
          {"redirects_marked", r.redirects_marked},
          {"repack", r.repack},
          {"packs_repacked", r.repacked.packs_repacked},
          {"bytes_copied", r.repacked.bytes_copied},
          {"bytes_freeable", r.repacked.bytes_freeable},
          {"packs_written", r.repacked.packs_written},
          {"redirects_written", r.repacked.redirects_written},
          {"packs_repack_locked", r.repacked.locked_keys.size()},
          {"repack_locked", r.repacked.locked_keys},
          {"repack_damaged", r.repacked.damaged},
          {"interrupted_backups_removed", r.interrupted_backups},
          {"partial_writes_removed", r.abandoned.count},
          {"partial_write_bytes_removed", r.abandoned.bytes}};
}

}  // namespace pgvault::cli

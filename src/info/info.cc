#include "info/info.h"

#include <map>

#include "pg/wal_names.h"
#include "repo/catalog.h"
#include "repo/wal_store.h"
#include "retention/apply.h"

namespace pgvault::info {
namespace {

// The newest verify and drill of one backup; damage is reported, never fatal to info.
BackupRecords ReadRecords(repo::Repository& repo, const std::string& backup_id) {
  BackupRecords out;
  auto records = repo::ListCatalogRecords(repo, backup_id);
  if (!records.ok()) {
    out.damage = records.status().message();
    return out;
  }
  if (auto v = repo::NewestRecord(*records, repo::RecordKind::kVerify)) {
    auto parsed = repo::ParseVerifyRecord(backup_id, v->body);
    if (parsed.ok())
      out.verify = std::move(*parsed);
    else
      out.damage = parsed.status().message();
  }
  if (auto d = repo::NewestRecord(*records, repo::RecordKind::kDrill)) {
    auto parsed = repo::ParseDrillRecord(backup_id, d->body);
    if (parsed.ok())
      out.drill = std::move(*parsed);
    else
      out.damage = parsed.status().message();
  }
  return out;
}

}  // namespace

namespace {

Result<std::map<std::string, BackupRetention>> CollectRetention(repo::Repository& repo,
                                                                const retention::Policy& policy) {
  PGV_ASSIGN_OR_RETURN(auto inputs, retention::PlanInputs(repo, nullptr));
  std::vector<int64_t> starts;
  starts.reserve(inputs.size());
  for (const auto& b : inputs) starts.push_back(b.start_micros);
  auto calendar = retention::CalendarTiers(starts, policy.timezone);
  std::map<std::string, BackupRetention> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    BackupRetention& r = out[inputs[i].id];
    r.tiers = inputs[i].tiers ? *inputs[i].tiers : calendar[i];
    r.retention_micros = retention::RetentionEnd(inputs[i].start_micros, r.tiers, policy);
    r.pinned = inputs[i].pinned;
    r.held = inputs[i].held;
  }
  return out;
}

}  // namespace

Result<RepoInfo> CollectInfo(repo::Repository& repo, const retention::Policy& policy) {
  const auto& params = repo.config().params;
  RepoInfo out{.repository = repo.Describe(),
               .repo_id = repo.config().repo_id,
               .cipher = params.encrypted ? "aes-256-gcm" : "none",
               .compression = std::string(pipeline::CompressionName(params.compression)),
               .block_size = params.block_size};
  PGV_ASSIGN_OR_RETURN(out.backups, repo.ListBackupHeaders());
  for (const auto& b : out.backups) {
    BackupRecords r = ReadRecords(repo, b.id);
    if (r.verify || r.drill || !r.damage.empty()) out.records[b.id] = std::move(r);
  }
  // A catalog record that does not decode is named under its backup already (ReadRecords):
  // the retention facts (pins) are then unknown, which must not stop info.
  auto retention = CollectRetention(repo, policy);
  if (retention.ok())
    out.retention = std::move(*retention);
  else if (retention.status().code() != Code::kCorruption)
    return retention.status();
  uint64_t segment_size = 0;  // from the oldest backup
  PGV_ASSIGN_OR_RETURN(out.timelines, repo::DescribeArchive(repo, segment_size));

  PGV_ASSIGN_OR_RETURN(auto wal, repo.ListWal());
  std::map<uint32_t, WalFiles> timelines;
  for (const auto& w : wal) {
    uint32_t tl = pg::TimelineOfWalFile(w.name);
    WalFiles& t = timelines[tl];
    t.timeline = tl;
    t.bytes += w.stored_size;
    auto kind = pg::ClassifyWalFileName(w.name);
    if (kind == pg::WalFileKind::kHistory) {
      t.history = true;
      continue;
    }
    if (kind != pg::WalFileKind::kSegment) continue;
    if (t.first.empty()) t.first = w.name;
    t.last = w.name;
    t.segments++;
  }
  for (auto& [tl, t] : timelines) out.wal.push_back(std::move(t));
  PGV_ASSIGN_OR_RETURN(auto streamed, repo::LatestStreamedPosition(repo.storage()));
  if (streamed) {
    // The stream's own segment size is in the cluster record; backups may not exist yet.
    PGV_ASSIGN_OR_RETURN(uint64_t recorded, repo.RecordedWalSegmentSize());
    uint64_t size = recorded ? recorded : segment_size;
    uint32_t tli = 0;
    uint64_t segno = 0;
    if (size && pg::ParseSegmentName(streamed->segment, tli, segno, size))
      out.streaming = StreamingInfo{.segment = streamed->segment,
                                    .bytes = streamed->length,
                                    .lsn = segno * size + streamed->length,
                                    .stored_unix = streamed->mtime};
  }
  return out;
}

}  // namespace pgvault::info

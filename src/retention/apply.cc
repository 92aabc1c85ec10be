#include "retention/apply.h"

#include <fmt/format.h>

#include "common/time.h"
#include "repo/catalog.h"
#include "repo/layout.h"

namespace pgvault::retention {

Result<Stamp> StampAt(repo::Repository& repo, const TierOptions& options, int64_t start_micros,
                      const std::string& backup_id) {
  if (options.now_micros != 0) start_micros = options.now_micros;
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  std::vector<int64_t> others;
  for (const auto& b : listed)
    if (b.intact() && b.id != backup_id) others.push_back(b.header->start_time_unix_micros);
  return StampFor(start_micros, others, options.forced, options.policy);
}

void StampTiers(const TierOptions& options, const Stamp& stamp, repo::ManifestHeader& header) {
  if (options.now_micros != 0) {
    int64_t duration = header.stop_time_unix_micros - header.start_time_unix_micros;
    header.start_time_unix_micros = options.now_micros;
    header.stop_time_unix_micros = options.now_micros + duration;
    header.start_time = FormatIsoMicros(header.start_time_unix_micros);
    header.stop_time = FormatIsoMicros(header.stop_time_unix_micros);
  }
  header.tiers.emplace();
  for (Tier t : stamp.tiers) header.tiers->emplace_back(TierName(t));
}

Status StampTiers(repo::Repository& repo, const TierOptions& options,
                  repo::ManifestHeader& header) {
  PGV_ASSIGN_OR_RETURN(Stamp stamp,
                       StampAt(repo, options, header.start_time_unix_micros, header.backup_id));
  StampTiers(options, stamp, header);
  return Status::Ok();
}

std::optional<std::vector<Tier>> HeaderTiers(const repo::ManifestHeader& header) {
  if (!header.tiers) return std::nullopt;
  std::vector<Tier> out;
  for (const auto& name : *header.tiers)
    if (auto t = ParseTier(name)) out.push_back(*t);
  return out;
}

std::string TierLine(const repo::ManifestHeader& header, const Policy& policy) {
  std::vector<Tier> tiers = HeaderTiers(header).value_or(std::vector<Tier>{});
  int64_t end = RetentionEnd(header.start_time_unix_micros, tiers, policy);
  return fmt::format("backup {} joined tiers {}; {}", header.backup_id, TierList(tiers),
                     end > 0 ? "retention date " + FormatIsoMicros(end)
                             : std::string("no retention date (the policy keeps none of them)"));
}

Status SetPinned(repo::Repository& repo, const std::string& backup_id, bool on) {
  PGV_RETURN_IF_ERROR(repo.ReadManifestHeader(backup_id).status());
  return repo::AppendCatalogRecord(repo, {.backup_id = backup_id,
                                          .kind = repo::RecordKind::kPin,
                                          .time_unix_micros = NowUnixMicros(),
                                          .body = {{"pinned", on}}});
}

Result<bool> IsPinned(repo::Repository& repo, const std::string& backup_id) {
  PGV_ASSIGN_OR_RETURN(auto records, repo::ListCatalogRecords(repo, backup_id));
  auto pin = repo::NewestRecord(records, repo::RecordKind::kPin);
  if (!pin) return false;
  auto it = pin->body.find("pinned");
  return it != pin->body.end() && it->is_boolean() && it->get<bool>();
}

Result<std::vector<PlanBackup>> PlanInputs(repo::Repository& repo,
                                           std::vector<std::string>* damaged) {
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  std::vector<PlanBackup> out;
  storage::Storage& st = repo.storage();
  for (const auto& b : listed) {
    if (!b.intact()) {
      if (damaged) damaged->push_back(b.id);
      continue;
    }
    const repo::ManifestHeader& h = *b.header;
    PlanBackup p{.id = b.id,
                 .start_micros = h.start_time_unix_micros,
                 .start_wal = h.start_wal,
                 .tiers = HeaderTiers(h),
                 .retain_until_unix = h.retain_until_unix};
    PGV_ASSIGN_OR_RETURN(p.pinned, IsPinned(repo, b.id));
    if (st.features().object_lock) {
      PGV_ASSIGN_OR_RETURN(auto info, st.Stat(repo::ManifestKey(b.id)));
      p.held = info.legal_hold;
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<ExpireResult>> ApplyPlan(repo::Repository& repo, const Plan& plan,
                                            int64_t grace_seconds) {
  std::vector<std::string> ids;
  for (const auto& e : plan.entries)
    if (!e.keep) ids.push_back(e.id);
  return ExpireBackups(repo, ids, grace_seconds);
}

}  // namespace pgvault::retention

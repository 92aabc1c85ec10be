#include "cli/retention_cli.h"

#include <fmt/format.h>

#include <iostream>

#include "common/time.h"
#include "restore/restore.h"
#include "retention/calendar.h"

namespace pgvault::cli {
namespace {

using nlohmann::json;

std::string Iso(int64_t micros) { return micros > 0 ? FormatIsoMicros(micros) : "-"; }
json IsoOrNull(int64_t micros) { return micros > 0 ? json(FormatIsoMicros(micros)) : json(); }

}  // namespace

Result<retention::Policy> PolicyFrom(const config::Options& o) {
  retention::Policy p;
  const std::pair<const char*, const std::string*> spans[] = {
      {"retention-daily", &o.retention_daily},
      {"retention-weekly", &o.retention_weekly},
      {"retention-monthly", &o.retention_monthly}};
  for (size_t i = 0; i < 3; ++i) {
    PGV_ASSIGN_OR_RETURN(p.tiers[i], retention::ParseSpan(spans[i].first, *spans[i].second));
  }
  PGV_ASSIGN_OR_RETURN(p.pitr, retention::ParseSpan("retention-pitr", o.retention_pitr));
  p.storage_class = {o.retention_daily_storage_class, o.retention_weekly_storage_class,
                     o.retention_monthly_storage_class};
  p.lock = {o.retention_daily_lock, o.retention_weekly_lock, o.retention_monthly_lock};
  p.timezone = o.retention_timezone.empty() ? "UTC" : o.retention_timezone;
  PGV_RETURN_IF_ERROR(retention::CheckTimezone(p.timezone));
  return p;
}

Result<int64_t> NowFrom(const config::Options& o) {
  if (o.now.empty()) return NowUnixMicros();
  auto micros = restore::ParseTargetTime(o.now);
  if (!micros)
    return std::move(Status::InvalidArgument(fmt::format("bad --now '{}'", o.now)))
        .WithHint("give a time with its zone, e.g. --now 2027-06-01T00:00:00Z");
  return *micros;
}

Result<retention::TierOptions> TierOptionsFrom(const config::Options& o) {
  retention::TierOptions t;
  PGV_ASSIGN_OR_RETURN(t.policy, PolicyFrom(o));
  if (!o.tier.empty()) t.forced = retention::ParseTier(o.tier);
  if (!o.now.empty()) {
    PGV_ASSIGN_OR_RETURN(t.now_micros, NowFrom(o));
  }
  return t;
}

Status ExpireByPolicy(repo::Repository& repo, const config::Options& o) {
  PGV_ASSIGN_OR_RETURN(auto policy, PolicyFrom(o));
  if (policy.empty())
    return std::move(Status::Config("expire needs a retention policy or a backup to remove"))
        .WithHint(
            "set retention-daily/-weekly/-monthly/-pitr (e.g. --retention-daily 30d) or pass "
            "--backup ID");
  PGV_ASSIGN_OR_RETURN(int64_t now, NowFrom(o));
  std::vector<std::string> damaged;
  PGV_ASSIGN_OR_RETURN(auto inputs, retention::PlanInputs(repo, &damaged));
  PGV_ASSIGN_OR_RETURN(auto plan, retention::MakePlan(std::move(inputs), policy, now));
  std::vector<retention::ExpireResult> done;
  if (!o.dry_run) {
    // The new cut first: the backup holding the previous one may be among those that go.
    PGV_RETURN_IF_ERROR(retention::RecordWalCut(repo, plan, NowUnixMicros()));
    auto applied = retention::ApplyPlan(repo, plan, o.gc_grace);
    if (!applied.ok()) return applied.status().Context("expiring by the retention policy");
    done = std::move(applied).value();
  }
  // WAL after the backups: the plan says which stay, and their headers give their own WAL.
  // Object lock is the storage's clock, not --now.
  retention::WalCollection wal{.dry_run = o.dry_run};
  if (!plan.entries.empty()) {
    auto collected = retention::CollectWal(repo, plan, o.dry_run, NowUnixMicros() / 1000000);
    if (!collected.ok()) return collected.status().Context("deleting WAL no backup needs");
    wal = std::move(collected).value();
  }
  std::cout << (o.json ? ExpireJson(plan, damaged, o.dry_run, done, wal).dump(2) + "\n"
                       : ExpireText(plan, damaged, o.dry_run, done, wal));
  return Status::Ok();
}

Status PinCommand(repo::Repository& repo, const config::Options& o) {
  const std::string& action = o.positional[0];
  if (action != "pin" && action != "unpin")
    return std::move(Status::InvalidArgument(fmt::format("unknown backup action '{}'", action)))
        .WithHint("use: pgvault backup pin|unpin --backup ID, or pgvault backup to take one");
  if (o.backup.empty())
    return std::move(Status::InvalidArgument(fmt::format("backup {} needs a backup", action)))
        .WithHint(fmt::format("pass --backup ID (see pgvault info)"));
  PGV_RETURN_IF_ERROR(retention::SetPinned(repo, o.backup, action == "pin"));
  std::cout << fmt::format("backup {} {}\n", o.backup,
                           action == "pin" ? "pinned: expire keeps it whatever the policy"
                                           : "unpinned: the retention policy applies again");
  return Status::Ok();
}

json ExpireJson(const retention::Plan& plan, const std::vector<std::string>& damaged, bool dry_run,
                const std::vector<retention::ExpireResult>& done,
                const retention::WalCollection& wal) {
  json backups = json::array();
  for (const auto& e : plan.entries) {
    json tiers = json::array();
    for (auto t : e.tiers) tiers.push_back(std::string(retention::TierName(t)));
    backups.push_back({{"id", e.id},
                       {"start_time", FormatIsoMicros(e.start_micros)},
                       {"tiers", tiers},
                       {"retention_date", IsoOrNull(e.retention_micros)},
                       {"action", e.keep ? "keep" : "expire"},
                       {"reason", e.why}});
  }
  json expired = json::array();
  for (const auto& r : done)
    expired.push_back({{"id", r.backup_id},
                       {"packs_deleted", r.packs_deleted},
                       {"bytes_deleted", r.bytes_deleted},
                       {"packs_locked", r.packs_locked},
                       {"locked_examples", r.locked_examples}});
  return {
      {"now", FormatIsoMicros(plan.now_micros)},
      {"dry_run", dry_run},
      {"backups", backups},
      {"pitr_from", IsoOrNull(plan.pitr_from_micros)},
      {"pitr_from_backup", plan.pitr_from_backup},
      {"wal_cut", plan.wal_cut},
      {"wal_continuous_from", plan.wal_continuous_from},
      {"damaged", damaged},
      {"expired", expired},
      {"wal",
       {{"files_before", wal.files_before},
        {"bytes_before", wal.bytes_before},
        {"files_deleted", wal.files_deleted},
        {"bytes_deleted", wal.bytes_deleted},
        {"first_deleted", wal.first_deleted.empty() ? json() : json(wal.first_deleted)},
        {"last_deleted", wal.last_deleted.empty() ? json() : json(wal.last_deleted)},
        {"stream_parts_deleted", wal.stream_deleted},
        {"stream_bytes_deleted", wal.stream_bytes_deleted},
        {"locked", wal.locked},
        {"skipped_damaged", wal.skipped_damaged.empty() ? json() : json(wal.skipped_damaged)}}}};
}

std::string ExpireText(const retention::Plan& plan, const std::vector<std::string>& damaged,
                       bool dry_run, const std::vector<retention::ExpireResult>& done,
                       const retention::WalCollection& wal) {
  std::string out = fmt::format("retention plan at {}{}:\n", FormatIsoMicros(plan.now_micros),
                                dry_run ? " (dry run: nothing removed)" : "");
  for (const auto& e : plan.entries)
    out += fmt::format("  {} {} (started {}, {}): {}\n", e.keep ? "keep  " : "expire", e.id,
                       FormatIsoMicros(e.start_micros), retention::TierList(e.tiers), e.why);
  for (const auto& id : damaged)
    out += fmt::format("  left   {}: damaged (expire it by hand: --backup {})\n", id, id);
  if (!plan.entries.empty())
    out += fmt::format(
        "PITR from backup {} (window from {}); WAL needed from segment {}, complete from {}\n",
        plan.pitr_from_backup, Iso(plan.pitr_from_micros), plan.wal_cut, plan.wal_continuous_from);
  for (const auto& r : done) out += retention::SummaryLine(r) + "\n";
  if (!plan.entries.empty()) out += retention::WalText(wal);
  out += fmt::format("{} backups kept, {} {}\n", plan.kept(), plan.entries.size() - plan.kept(),
                     dry_run ? "would be expired" : "expired");
  return out;
}

}  // namespace pgvault::cli

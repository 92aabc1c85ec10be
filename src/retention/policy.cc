#include "retention/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "common/time.h"
#include "retention/calendar.h"

namespace pgvault::retention {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;

bool Has(const std::vector<Tier>& tiers, Tier tier) {
  return std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
}

// The tiers among `tiers` that the policy has, in tier order.
std::vector<Tier> InPolicy(const std::vector<Tier>& tiers, const Policy& policy) {
  std::vector<Tier> out;
  for (Tier t : kTiers)
    if (Has(tiers, t) && policy.tiers[static_cast<int>(t)].set()) out.push_back(t);
  return out;
}

// Index of the oldest backup of the PITR window: the newest one that started at or before
// `from`, or the oldest backup when none did (the whole history is inside the window).
size_t PitrAnchor(const std::vector<PlanBackup>& sorted, int64_t from) {
  size_t anchor = 0;
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i].start_micros <= from) anchor = i;
  return anchor;
}

// Why a backup outside the PITR window stays, or "" when nothing keeps it.
std::string KeepReason(const PlanBackup& b, const PlanEntry& e, int64_t now) {
  if (b.pinned) return "pinned";
  if (b.held) return "on legal hold";
  if (b.retain_until_unix * 1000000 > now)
    return fmt::format("retained by object lock until {}",
                       FormatIsoMicros(b.retain_until_unix * 1000000));
  if (e.retention_micros > now)
    return fmt::format("{} until {}", TierList(e.tiers), FormatIsoMicros(e.retention_micros));
  return "";
}

// joined: the tiers it is in, whether the policy has them or not.
std::string GoReason(const std::vector<Tier>& joined, const PlanEntry& e) {
  if (!e.tiers.empty())
    return fmt::format("{} ended {}", TierList(e.tiers), FormatIsoMicros(e.retention_micros));
  if (!joined.empty()) return fmt::format("its tiers ({}) are not in the policy", TierList(joined));
  return "in no tier (not the first backup of a day, week or month)";
}

}  // namespace

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kDaily:
      return "daily";
    case Tier::kWeekly:
      return "weekly";
    case Tier::kMonthly:
      return "monthly";
  }
  return "?";
}

std::optional<Tier> ParseTier(std::string_view name) {
  for (Tier t : kTiers)
    if (TierName(t) == name) return t;
  return std::nullopt;
}

std::string TierList(const std::vector<Tier>& tiers) {
  if (tiers.empty()) return "no tier";
  std::string out;
  for (Tier t : tiers) out += (out.empty() ? "" : "+") + std::string(TierName(t));
  return out;
}

Result<Span> ParseSpan(std::string_view option, std::string_view text) {
  if (text.empty()) return Span{};
  Span span{.count = 0, .unit = text.back()};
  std::string_view digits = text.substr(0, text.size() - 1);
  bool ok = !digits.empty() && digits.size() <= 5 && digits.front() != '0' &&
            std::string_view("dwmy").find(span.unit) != std::string_view::npos &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) span.count = std::stoi(std::string(digits));
  if (!ok)
    return std::move(Status::Config(fmt::format("bad --{} '{}'", option, text)))
        .WithHint(fmt::format(
            "give a number and a unit: d (days), w (weeks), m (months), y (years), e.g. --{} 30d",
            option));
  return span;
}

int64_t AddSpan(int64_t unix_micros, Span span, int sign, const std::string& tz) {
  int64_t n = static_cast<int64_t>(span.count) * sign;
  switch (span.unit) {
    case 'd':
      return unix_micros + n * kMicrosPerDay;
    case 'w':
      return unix_micros + n * 7 * kMicrosPerDay;
    default: {
      int months = static_cast<int>(n) * (span.unit == 'y' ? 12 : 1);
      int64_t micros = unix_micros % 1000000;
      if (micros < 0) micros += 1000000;
      int64_t seconds = (unix_micros - micros) / 1000000;
      return AddMonths(seconds, months, tz) * 1000000 + micros;
    }
  }
}

bool Policy::empty() const {
  return !pitr.set() && std::none_of(tiers.begin(), tiers.end(), [](Span s) { return s.set(); });
}

std::vector<std::vector<Tier>> CalendarTiers(const std::vector<int64_t>& starts,
                                             const std::string& tz) {
  std::vector<size_t> order(starts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return starts[a] < starts[b]; });
  std::vector<std::vector<Tier>> out(starts.size());
  std::map<std::string, bool> seen_day, seen_week, seen_month;
  for (size_t i : order) {
    int64_t seconds = starts[i] / 1000000 - (starts[i] % 1000000 < 0 ? 1 : 0);
    LocalPeriods p = PeriodsAt(seconds, tz);
    if (!seen_day[p.day]) out[i].push_back(Tier::kDaily);
    if (!seen_week[p.week]) out[i].push_back(Tier::kWeekly);
    if (!seen_month[p.month]) out[i].push_back(Tier::kMonthly);
    seen_day[p.day] = seen_week[p.week] = seen_month[p.month] = true;
  }
  return out;
}

int64_t RetentionEnd(int64_t start_micros, const std::vector<Tier>& tiers, const Policy& policy) {
  int64_t end = 0;
  for (Tier t : InPolicy(tiers, policy))
    end =
        std::max(end, AddSpan(start_micros, policy.tiers[static_cast<int>(t)], 1, policy.timezone));
  return end;
}

Placement PlacementFor(int64_t start_micros, const std::vector<Tier>& tiers, const Policy& policy) {
  Placement out;
  int64_t longest = 0, latest_lock = 0;
  for (Tier t : InPolicy(tiers, policy)) {
    int idx = static_cast<int>(t);
    int64_t end = AddSpan(start_micros, policy.tiers[idx], 1, policy.timezone);
    // Ties go to the later tier: a monthly 12m outranks a weekly 52w of the same length.
    if (end >= longest) {
      longest = end;
      out.storage_class = policy.storage_class[idx];
      out.class_tier = t;
    }
    if (policy.lock[idx] && end >= latest_lock) {
      latest_lock = end;
      out.lock_tier = t;
    }
  }
  if (latest_lock > 0) out.lock_until_unix = (latest_lock + 999999) / 1000000;
  return out;
}

Stamp StampFor(int64_t start_micros, const std::vector<int64_t>& others, std::optional<Tier> forced,
               const Policy& policy) {
  std::vector<int64_t> starts = others;
  std::erase_if(starts, [&](int64_t s) { return s >= start_micros; });  // only earlier ones count
  starts.push_back(start_micros);
  std::vector<Tier> joined = CalendarTiers(starts, policy.timezone).back();
  if (forced && !Has(joined, *forced)) joined.push_back(*forced);
  std::sort(joined.begin(), joined.end());
  return {joined, RetentionEnd(start_micros, joined, policy)};
}

size_t Plan::kept() const {
  return std::count_if(entries.begin(), entries.end(), [](const PlanEntry& e) { return e.keep; });
}

Result<Plan> MakePlan(std::vector<PlanBackup> backups, const Policy& policy, int64_t now_micros) {
  Plan plan{.now_micros = now_micros};
  if (backups.empty()) return plan;
  std::stable_sort(backups.begin(), backups.end(),
                   [](const auto& a, const auto& b) { return a.start_micros < b.start_micros; });
  std::vector<int64_t> starts;
  starts.reserve(backups.size());
  for (const auto& b : backups) starts.push_back(b.start_micros);
  auto calendar = CalendarTiers(starts, policy.timezone);
  size_t newest = backups.size() - 1, anchor = newest;
  if (policy.pitr.set()) {
    plan.pitr_from_micros = AddSpan(now_micros, policy.pitr, -1, policy.timezone);
    anchor = PitrAnchor(backups, plan.pitr_from_micros);
  }
  for (size_t i = 0; i < backups.size(); ++i) {
    const PlanBackup& b = backups[i];
    PlanEntry e{.id = b.id, .start_micros = b.start_micros};
    const std::vector<Tier>& joined = b.tiers ? *b.tiers : calendar[i];
    e.tiers = InPolicy(joined, policy);
    e.retention_micros = RetentionEnd(b.start_micros, e.tiers, policy);
    if (i == newest)
      e.why = "the newest backup";
    else if (i == anchor)
      e.why = fmt::format("the oldest backup of the PITR window (from {})",
                          FormatIsoMicros(plan.pitr_from_micros));
    else if (i > anchor)
      e.why = "inside the PITR window";
    else
      e.why = KeepReason(b, e, now_micros);
    e.keep = !e.why.empty();
    if (!e.keep) e.why = GoReason(joined, e);
    plan.entries.push_back(std::move(e));
  }
  if (plan.kept() == 0)
    return std::move(Status::InvalidArgument("the retention policy would remove every backup"))
        .WithHint("lengthen the retention options or take a new backup first");
  plan.pitr_from_backup = backups[anchor].id;
  plan.wal_continuous_from = backups[anchor].start_wal;
  for (size_t i = 0; i < backups.size() && plan.wal_cut.empty(); ++i)
    if (plan.entries[i].keep) plan.wal_cut = backups[i].start_wal;
  return plan;
}

}  // namespace pgvault::retention

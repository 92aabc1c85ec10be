// The retention policy and the expiry plan (docs/user-guide.md, "Retention"). Pure: given the
// backups, the policy and the time, MakePlan says for each backup which tiers it is in, until
// when, and whether it is kept or goes and why. It reads and changes nothing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgvault::retention {

// Values are stored in manifest headers by name: never rename.
enum class Tier { kDaily = 0, kWeekly = 1, kMonthly = 2 };
inline constexpr std::array<Tier, 3> kTiers = {Tier::kDaily, Tier::kWeekly, Tier::kMonthly};
std::string_view TierName(Tier tier);
std::optional<Tier> ParseTier(std::string_view name);
// "daily+weekly"; "no tier" when empty.
std::string TierList(const std::vector<Tier>& tiers);

// A length of time as the options give it: "30d", "12w", "18m", "7y" (days, weeks, calendar
// months, calendar years).
struct Span {
  int count = 0;  // 0: not set
  char unit = 'd';
  bool set() const { return count > 0; }
};
// "" is an unset span; anything else not of the form above is kConfig naming the option.
Result<Span> ParseSpan(std::string_view option, std::string_view text);
// t (unix micros) plus span times sign (+1 or -1), in the policy's zone for months and years.
int64_t AddSpan(int64_t unix_micros, Span span, int sign, const std::string& tz);

struct Policy {
  std::array<Span, 3> tiers;  // by Tier; unset: the tier keeps nothing
  // By Tier: the S3 storage class of the objects a backup of the tier writes ("": the
  // repository's), and whether they are locked (COMPLIANCE) until the backup's retention date.
  std::array<std::string, 3> storage_class;
  std::array<bool, 3> lock = {false, false, false};
  Span pitr;  // unset: only the newest backup's WAL onwards is kept
  std::string timezone = "UTC";
  bool empty() const;
};

// For each start time (unix micros, any order): the tiers of the calendar it opens, i.e. it is
// the first of its local day, ISO week or month among `starts`.
std::vector<std::vector<Tier>> CalendarTiers(const std::vector<int64_t>& starts,
                                             const std::string& tz);

struct PlanBackup {
  std::string id;
  int64_t start_micros = 0;
  std::string start_wal;  // the WAL segment holding its start LSN
  // The tiers its manifest records; nullopt for a backup written before tiers: computed.
  std::optional<std::vector<Tier>> tiers;
  bool pinned = false;
  bool held = false;              // legal hold
  int64_t retain_until_unix = 0;  // object lock
};

struct PlanEntry {
  std::string id;
  int64_t start_micros = 0;
  std::vector<Tier> tiers;       // the tiers it is in that the policy has
  int64_t retention_micros = 0;  // when its last tier ends; 0 when in no tier
  bool keep = false;
  std::string why;  // why it stays or goes
};

struct Plan {
  int64_t now_micros = 0;
  std::vector<PlanEntry> entries;  // oldest first
  // The oldest backup of the PITR window: it and every later backup stay, and WAL from its
  // start onwards stays complete. The newest backup when the policy has no PITR window.
  std::string pitr_from_backup;
  int64_t pitr_from_micros = 0;  // now minus the PITR window; 0 without one
  // The oldest WAL segment any kept backup needs (its own start); WAL before it is not needed.
  std::string wal_cut;
  // WAL from this segment onwards must stay complete (the PITR window's oldest backup's start).
  std::string wal_continuous_from;
  size_t kept() const;
};

// kInvalidArgument when the plan would remove every backup (never expected: the newest stays).
Result<Plan> MakePlan(std::vector<PlanBackup> backups, const Policy& policy, int64_t now_micros);

// The tiers a new backup joins (the ones it qualifies for by the calendar among `others`, plus
// `forced`) and the date its last tier ends under `policy` (0 when in none).
struct Stamp {
  std::vector<Tier> tiers;
  int64_t retention_micros = 0;
};
Stamp StampFor(int64_t start_micros, const std::vector<int64_t>& others, std::optional<Tier> forced,
               const Policy& policy);
// The tiers the policy has among `tiers`, and when the last of them ends.
int64_t RetentionEnd(int64_t start_micros, const std::vector<Tier>& tiers, const Policy& policy);

// Where a backup's new objects go (docs/design.md, "Storage class and object lock by tier").
struct Placement {
  // The class of the longest-lived tier it joined that the policy has ("": the repository's).
  std::string storage_class;
  std::optional<Tier> class_tier;  // that tier; nullopt when in no tier of the policy
  // The latest retention date among its locked tiers (unix seconds, rounded up); 0 = no lock.
  int64_t lock_until_unix = 0;
  std::optional<Tier> lock_tier;  // the tier that date comes from
};
Placement PlacementFor(int64_t start_micros, const std::vector<Tier>& tiers, const Policy& policy);

}  // namespace pgvault::retention

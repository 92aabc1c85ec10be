// The retention policy against a repository: the facts MakePlan needs (headers, pins, holds),
// tiers stamped on a new backup, pin/unpin records, and carrying out an expiry plan through
// the per-backup removal of expire.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/manifest.h"
#include "repo/repository.h"
#include "retention/expire.h"
#include "retention/policy.h"

namespace pgvault::retention {

// What a backup is told about retention (backup --tier, --now and the retention options).
struct TierOptions {
  Policy policy;
  std::optional<Tier> forced;  // backup --tier
  int64_t now_micros = 0;      // --now: the backup's start time as recorded; 0 = the clock
};

// The tiers a backup that starts at start_micros (options.now_micros when set) joins among the
// repository's other intact backups, and its retention date. Reads their headers.
Result<Stamp> StampAt(repo::Repository& repo, const TierOptions& options, int64_t start_micros,
                      const std::string& backup_id);
// Records in the header the tiers of `stamp` (and, with --now, moves its recorded start and stop
// time to now, keeping its duration).
void StampTiers(const TierOptions& options, const Stamp& stamp, repo::ManifestHeader& header);
// StampAt for the header's start, then StampTiers.
Status StampTiers(repo::Repository& repo, const TierOptions& options, repo::ManifestHeader& header);
// "joined tiers daily+weekly; kept until 2026-05-27T05:00:00.000000Z" for a written header.
std::string TierLine(const repo::ManifestHeader& header, const Policy& policy);

// The tiers a header records (unknown names are ignored), or nullopt when it records none.
std::optional<std::vector<Tier>> HeaderTiers(const repo::ManifestHeader& header);

// Pins (on) or unpins a backup: a catalog record of kind pin. kNotFound for an unknown backup.
Status SetPinned(repo::Repository& repo, const std::string& backup_id, bool on);
// Whether the newest pin record of the backup pins it.
Result<bool> IsPinned(repo::Repository& repo, const std::string& backup_id);

// The repository's intact backups as MakePlan takes them; damaged ones are named in `damaged`
// (the plan leaves them alone).
Result<std::vector<PlanBackup>> PlanInputs(repo::Repository& repo,
                                           std::vector<std::string>* damaged);

// Expires every backup the plan lets go, oldest first, with ExpireBackup.
Result<std::vector<ExpireResult>> ApplyPlan(repo::Repository& repo, const Plan& plan,
                                            int64_t grace_seconds);

}  // namespace pgvault::retention

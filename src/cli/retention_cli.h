// The retention side of the commands: the policy and the clock from the options, expire by
// policy (text or JSON, dry run or not) and backup pin|unpin.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/options.h"
#include "repo/repository.h"
#include "retention/apply.h"
#include "retention/policy.h"
#include "retention/wal_gc.h"

namespace pgvault::cli {

// The policy of --retention-*; kConfig naming a bad option.
Result<retention::Policy> PolicyFrom(const config::Options& o);
// --now as unix micros, or the clock. kInvalidArgument with a hint for a bad timestamp.
Result<int64_t> NowFrom(const config::Options& o);
// backup's retention options: the policy, --tier and --now.
Result<retention::TierOptions> TierOptionsFrom(const config::Options& o);

// expire without --backup: plans by the policy and (unless --dry-run) expires what goes, then
// deletes the WAL no kept backup and no PITR window needs (retention/wal_gc.h).
Status ExpireByPolicy(repo::Repository& repo, const config::Options& o);
// backup pin|unpin --backup ID.
Status PinCommand(repo::Repository& repo, const config::Options& o);

// The plan and what was done, as expire prints it (keys documented in docs/user-guide.md).
nlohmann::json ExpireJson(const retention::Plan& plan, const std::vector<std::string>& damaged,
                          bool dry_run, const std::vector<retention::ExpireResult>& done,
                          const retention::WalCollection& wal);
std::string ExpireText(const retention::Plan& plan, const std::vector<std::string>& damaged,
                       bool dry_run, const std::vector<retention::ExpireResult>& done,
                       const retention::WalCollection& wal);

}  // namespace pgvault::cli

// The edge where the info and check commands' results become text or JSON: the commands return
// typed data, and these functions are the only place that names the output's keys. The JSON keys
// are an interface (scripts and the integration tests parse `info --json`): keep them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "check/check.h"
#include "drill/drill.h"
#include "info/info.h"
#include "verify/verify.h"
#include "retention/gc.h"

namespace pgvault::cli {

nlohmann::json InfoJson(const info::RepoInfo& info);
std::string InfoText(const info::RepoInfo& info);

// verify --json: the report, with each backup's record as the catalog holds it.
nlohmann::json VerifyJson(const verify::VerifyReport& report);
// drill --json: the backup, the scratch directory and the drill record.
nlohmann::json DrillJson(const drill::DrillResult& result);

nlohmann::json CheckJson(const check::CheckResult& result);
std::string CheckText(const check::CheckResult& result);

nlohmann::json GcJson(const retention::GcResult& result);

}  // namespace pgvault::cli

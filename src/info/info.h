// The info command: the catalog, derived from write-once objects (manifests and WAL objects).
#pragma once

#include <nlohmann/json.hpp>

#include "repo/repository.h"

namespace pgvault::info {

Result<nlohmann::json> CollectInfo(repo::Repository& repo);
std::string FormatText(const nlohmann::json& info);

}  // namespace pgvault::info

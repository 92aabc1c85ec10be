// The check command: proves end to end that a running cluster's archive_command reaches the
// repository (forces a WAL switch and waits for that segment), and reports the archiver's lag
// and any gap in the archived WAL.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "pg/session.h"
#include "repo/repository.h"

namespace pgvault::check {

struct CheckOptions {
  pg::ConnOptions conn;
  int timeout_seconds = 60;  // how long the switched segment may take to arrive
};

// kPg when the server is not archiving or the segment does not arrive in time; kCorruption when
// the archived WAL has a gap. The JSON holds what was measured either way (see FormatText).
Result<nlohmann::json> RunCheck(repo::Repository& repo, const CheckOptions& options);
std::string FormatText(const nlohmann::json& result);

}  // namespace pgvault::check

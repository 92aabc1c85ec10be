// The daemon's log: one line per event on stderr, as text or as one JSON object per line
// (--log-format json), with the event's name and fields. Never keys or passphrases.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgvault::daemon {

using Fields = std::vector<std::pair<std::string, std::string>>;

void SetJsonLog(bool json);
// level: "info", "warn" or "error"; event: e.g. "job_start", "job_failed", "alert_sent".
void LogEvent(std::string_view level, std::string_view event, const Fields& fields);
// The lowercase name of a status code ("unavailable"), for metrics labels and logs.
std::string CodeName(Code code);

}  // namespace pgvault::daemon

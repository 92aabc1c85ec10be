// The daemon's status page: server-rendered HTML with inline SVG, no JavaScript. Per cluster:
// the newest backup per tier, a timeline of backups, repository size over the backups, WAL and
// archive state, the scheduled jobs; then the recent alerts.
#pragma once

#include <string>
#include <vector>

#include "daemon/alerts.h"
#include "daemon/metrics.h"

namespace pgvault::daemon {

std::string RenderStatusPage(const std::vector<ClusterState>& clusters,
                             const std::vector<AlertEvent>& alerts, int64_t now_unix);
std::string HtmlEscape(const std::string& text);

}  // namespace pgvault::daemon

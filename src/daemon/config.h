// The daemon's configuration: the top-level options of the config file (defaults for every
// cluster), the [schedule] section (a cron expression per job kind) and one [cluster.NAME]
// section per cluster, whose keys override the top-level ones:
//
//   timezone = "Europe/Berlin"
//   [schedule]
//   backup = "0 2 * * *"
//   verify = "30 4 * * 0"
//   [cluster.main]
//   pgdata = "/var/lib/postgresql/15/main"
//   repo = "/srv/pgvault/main"
//
// Without any [cluster.NAME] section the top-level options are one cluster, "default".
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "config/options.h"
#include "schedule/cron.h"
#include "schedule/time_zone.h"

namespace pgvault::daemon {

// The job kinds a schedule may name; a kind runs only when this build has its command.
inline constexpr const char* kJobKinds[] = {"backup", "verify", "expire", "drill"};

struct JobSchedule {
  std::string kind;
  schedule::CronExpr cron;
};

struct ClusterConfig {
  std::string name;
  config::Options options;
};

struct DaemonConfig {
  config::Options base;
  schedule::TimeZone zone;
  std::vector<JobSchedule> schedules;
  std::vector<ClusterConfig> clusters;
};

// base: the resolved options of the daemon command (base.config names the file).
Result<DaemonConfig> LoadDaemonConfig(const config::Options& base);
// The same, from text (for tests); path names the file in messages.
Result<DaemonConfig> ParseDaemonConfig(const config::Options& base, const std::string& text,
                                       const std::string& path);

}  // namespace pgvault::daemon

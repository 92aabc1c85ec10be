#include "daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "config/settings.h"

namespace pgvault::daemon {
namespace {

Status ScheduleError(const std::string& path, const std::string& what, std::string hint) {
  return std::move(Status::Config(fmt::format("config file '{}': {}", path, what)))
      .WithHint(std::move(hint));
}

Result<std::vector<JobSchedule>> ReadSchedules(const toml::table& table, const std::string& path) {
  std::vector<JobSchedule> out;
  const toml::table* section = table["schedule"].as_table();
  if (!section) return out;
  for (const auto& [key, node] : *section) {
    std::string kind(key.str());
    bool known = false;
    for (const char* k : kJobKinds) known = known || kind == k;
    if (!known)
      return ScheduleError(path, fmt::format("unknown job '{}' in [schedule]", kind),
                           "schedule one of: backup, verify, expire, drill");
    auto text = node.value<std::string>();
    if (!text)
      return ScheduleError(path, fmt::format("schedule.{} must be a string", kind),
                           fmt::format("e.g. {} = \"0 2 * * *\"", kind));
    auto cron = schedule::CronExpr::Parse(*text);
    if (!cron.ok())
      return cron.status().Context(fmt::format("config file '{}': schedule.{}", path, kind));
    out.push_back({kind, *cron});
  }
  return out;
}

}  // namespace

Result<DaemonConfig> ParseDaemonConfig(const config::Options& base, const std::string& text,
                                       const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    // ApplyConfigText has already said where; this is only reached for text given directly.
    return Status::Config(fmt::format("config file '{}': syntax error: {}", path, e.description()));
  }
  PGV_ASSIGN_OR_RETURN(auto zone, schedule::TimeZone::Load(base.timezone));
  PGV_ASSIGN_OR_RETURN(auto schedules, ReadSchedules(table, path));
  DaemonConfig config{base, zone, std::move(schedules), {}};
  if (const toml::table* clusters = table["cluster"].as_table()) {
    for (const auto& [name, node] : *clusters) {
      if (!node.is_table())
        return ScheduleError(path, fmt::format("'cluster.{}' is not a section", name.str()),
                             fmt::format("write [cluster.{}] with its options below", name.str()));
      ClusterConfig cluster{std::string(name.str()), base};
      PGV_RETURN_IF_ERROR(config::ApplyConfigText(text, path, cluster.options,
                                                  fmt::format("cluster.{}", name.str())));
      config.clusters.push_back(std::move(cluster));
    }
  }
  if (config.clusters.empty()) config.clusters.push_back({"default", base});
  for (const auto& c : config.clusters)
    if (c.options.repo.empty())
      return ScheduleError(path, fmt::format("cluster '{}' has no repository", c.name),
                           fmt::format("set repo = LOCATION in [cluster.{}]", c.name));
  return config;
}

Result<DaemonConfig> LoadDaemonConfig(const config::Options& base) {
  if (base.config.empty())
    return std::move(Status::Config("the daemon needs a config file"))
        .WithHint("pass --config FILE with a [schedule] section and [cluster.NAME] sections");
  std::ifstream in(base.config);
  if (!in)
    return std::move(Status::Config(fmt::format("cannot read config file '{}'", base.config)))
        .WithHint("check --config and the file's permissions");
  std::stringstream buf;
  buf << in.rdbuf();
  return ParseDaemonConfig(base, buf.str(), base.config);
}

}  // namespace pgvault::daemon

#include "config/settings.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace pgvault::config {
namespace {

// Secrets are never read from the config file: argv and config files get copied, backed up and
// shown around; the environment and key files (mode 0600) do not.
struct SecretKey {
  std::string_view key;
  std::string_view hint;
};
constexpr SecretKey kSecretKeys[] = {
    {"passphrase", "set PGVAULT_PASSPHRASE in pgvault's environment, or use key-file = FILE"},
    {"new-passphrase", "set PGVAULT_NEW_PASSPHRASE in pgvault's environment, or --new-key-file"},
    {"s3-key", "set PGVAULT_S3_KEY and PGVAULT_S3_KEY_SECRET in pgvault's environment"},
    {"s3-key-secret", "set PGVAULT_S3_KEY and PGVAULT_S3_KEY_SECRET in pgvault's environment"},
};

std::string Join(const std::vector<std::string_view>& items, std::string_view sep) {
  std::string out;
  for (auto item : items) out += (out.empty() ? "" : std::string(sep)) + std::string(item);
  return out;
}

Status Invalid(Code code, const std::string& value, const std::string& where,
               const std::string& expected) {
  std::string msg = fmt::format("invalid value '{}' for {}: expected {}", value, where, expected);
  return code == Code::kConfig ? Status::Config(msg) : Status::InvalidArgument(msg);
}

bool ParseBool(const std::string& v, bool& out) {
  static const std::set<std::string> kTrue = {"true", "1", "yes", "on"};
  static const std::set<std::string> kFalse = {"false", "0", "no", "off"};
  if (kTrue.count(v)) return out = true, true;
  if (kFalse.count(v)) return out = false, true;
  return false;
}

// One TOML value as option text: strings as they are, integers and booleans spelled out.
bool NodeText(const toml::node& node, std::string& out) {
  if (auto s = node.as_string()) return out = s->get(), true;
  if (auto i = node.as_integer()) return out = std::to_string(i->get()), true;
  if (auto b = node.as_boolean()) return out = b->get() ? "true" : "false", true;
  return false;
}

std::string Normalized(std::string_view key) {
  std::string out(key);
  for (char& c : out)
    if (c == '_') c = '-';
  return out;
}

Status ConfigError(const std::string& path, int64_t line, const std::string& what,
                   std::string hint) {
  return std::move(Status::Config(fmt::format("config file '{}' line {}: {}", path, line, what)))
      .WithHint(std::move(hint));
}

// prefix: "retention-" for the keys of a [retention] table (retention.daily = "30d").
Status ApplyConfigKey(const std::string& path, const toml::key& key, const toml::node& node,
                      Options& options, std::string_view prefix = "") {
  int64_t line = key.source().begin.line;
  std::string name = std::string(prefix) + Normalized(key.str());
  for (const auto& secret : kSecretKeys)
    if (name == secret.key)
      return ConfigError(
          path, line,
          fmt::format("'{}' is a secret and is never read from a config file", key.str()),
          std::string(secret.hint));
  const OptionSpec* spec = FindOption(name);
  if (!spec) {
    std::string near = NearestName(name, OptionNames());
    return ConfigError(path, line,
                       near.empty() ? fmt::format("unknown option '{}{}'", prefix, key.str())
                                    : fmt::format("unknown option '{}{}', did you mean '{}'?",
                                                  prefix, key.str(), near),
                       "config keys are the long flag names without '--'; see 'pgvault --help'");
  }
  std::string where = fmt::format("'{}' in config file '{}' line {}", name, path, line);
  std::vector<std::string> values;
  std::string text;
  if (auto array = node.as_array(); array && TypeOf(*spec) == Type::kList) {
    for (const auto& item : *array) {
      if (!NodeText(item, text))
        return ConfigError(path, line, fmt::format("'{}' must be a list of strings", name),
                           fmt::format("e.g. {} = [\"16385=/srv/ts1\"]", name));
      values.push_back(text);
    }
  } else if (NodeText(node, text)) {
    values.push_back(text);
  } else {
    return ConfigError(path, line, fmt::format("'{}' needs a string, integer or boolean", name),
                       fmt::format("quote the value: {} = \"...\"", name));
  }
  if (TypeOf(*spec) == Type::kList) (options.*std::get<5>(spec->field)).clear();
  for (const auto& v : values)
    PGV_RETURN_IF_ERROR(SetOption(*spec, v, where, Code::kConfig, options));
  if (name == "pg-port") options.pg_port_given = true;
  return Status::Ok();
}

Status ApplyConfigFile(const std::string& path, Options& options) {
  std::ifstream in(path);
  if (!in)
    return std::move(Status::Config(fmt::format("cannot read config file '{}'", path)))
        .WithHint("check --config / PGVAULT_CONFIG and the file's permissions");
  std::stringstream buf;
  buf << in.rdbuf();
  return ApplyConfigText(buf.str(), path, options);
}

Status ApplyEnv(const EnvLookup& env, Options& options) {
  for (const auto& spec : OptionTable()) {
    std::string name = EnvName(spec.name);
    const char* value = env(name.c_str());
    if (!value || !*value) continue;
    if (TypeOf(spec) == Type::kList) (options.*std::get<5>(spec.field)).clear();
    Status s = SetOption(spec, value, name, Code::kConfig, options);
    if (!s.ok()) return std::move(s).WithHint(fmt::format("fix or unset {}", name));
    if (spec.name == "pg-port") options.pg_port_given = true;
  }
  return Status::Ok();
}

std::string CommandsTaking(const OptionSpec& spec) {
  std::vector<std::string_view> names;
  for (const auto& c : CommandTable())
    if (Takes(spec, c.id)) names.push_back(c.name);
  return Join(names, ", ");
}

Status ApplyFlags(Command command, const FlagValues& flags, Options& options) {
  std::string_view command_name;
  for (const auto& c : CommandTable())
    if (c.id == command) command_name = c.name;
  std::set<std::string> lists_started;
  for (const auto& [name, value] : flags) {
    const OptionSpec* spec = FindOption(name);
    if (!spec) return Status::Internal(fmt::format("flag '--{}' is not in the table", name));
    if (!Takes(*spec, command))
      return std::move(Status::InvalidArgument(fmt::format(
                           "option '--{}' is not accepted by command '{}'", name, command_name)))
          .WithHint(fmt::format("--{} is taken by: {}; 'pgvault {} --help' lists the options of {}",
                                name, CommandsTaking(*spec), command_name, command_name));
    if (TypeOf(*spec) == Type::kList && lists_started.insert(name).second)
      (options.*std::get<5>(spec->field)).clear();
    Status s = SetOption(*spec, value, "--" + name, Code::kInvalidArgument, options);
    if (!s.ok()) return std::move(s).WithHint(fmt::format("see 'pgvault {} --help'", command_name));
    if (name == "pg-port") options.pg_port_given = true;
  }
  return Status::Ok();
}

}  // namespace

Status SetOption(const OptionSpec& spec, const std::string& value, const std::string& where,
                 Code code, Options& options) {
  switch (TypeOf(spec)) {
    case Type::kString: {
      if (!spec.allowed.empty() &&
          std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end())
        return Invalid(code, value, where, "one of: " + Join(spec.allowed, ", "));
      options.*std::get<0>(spec.field) = value;
      return Status::Ok();
    }
    case Type::kBool: {
      bool b = false;
      if (!ParseBool(value, b)) return Invalid(code, value, where, "true or false");
      options.*std::get<4>(spec.field) = b;
      return Status::Ok();
    }
    case Type::kList:
      (options.*std::get<5>(spec.field)).push_back(value);
      return Status::Ok();
    case Type::kInt:
      break;
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  bool ok = ec == std::errc() && end == value.data() + value.size();
  if (!ok || (spec.min < spec.max && (n < spec.min || n > spec.max)))
    return Invalid(code, value, where,
                   spec.min < spec.max ? fmt::format("an integer from {} to {}", spec.min, spec.max)
                                       : std::string("an integer"));
  if (auto p = std::get_if<int Options::*>(&spec.field)) options.*(*p) = static_cast<int>(n);
  if (auto p = std::get_if<int64_t Options::*>(&spec.field)) options.*(*p) = n;
  if (auto p = std::get_if<uint32_t Options::*>(&spec.field))
    options.*(*p) = static_cast<uint32_t>(n);
  return Status::Ok();
}

Options DefaultOptions() {
  Options o;
  for (const auto& spec : OptionTable()) {
    if (spec.default_value.empty()) continue;
    Status s = SetOption(spec, std::string(spec.default_value), "default", Code::kInternal, o);
    (void)s;  // option_table_test checks that every default is valid
  }
  return o;
}

Status ApplyConfigText(const std::string& text, const std::string& path, Options& options,
                       const std::string& section) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return std::move(Status::Config(fmt::format("config file '{}' line {}, column {}: syntax "
                                                "error: {}",
                                                path, at.line, at.column, e.description())))
        .WithHint("write one 'option = value' per line (TOML: quote strings)");
  }
  const toml::table* keys = &table;
  if (!section.empty()) {
    keys = table.at_path(section).as_table();
    if (!keys)
      return std::move(Status::Config(
                           fmt::format("config file '{}' has no section '[{}]'", path, section)))
          .WithHint("add the section, or fix its name");
  }
  for (const auto& [key, node] : *keys) {
    bool daemon_section = section.empty() && (key.str() == "schedule" || key.str() == "cluster");
    if (node.is_table() && daemon_section) continue;  // read by the daemon (daemon/config.h)
    if (key.str() == "retention" && node.is_table()) {
      // retention.daily = "30d" (or a [retention] section) is retention-daily = "30d".
      for (const auto& [sub, value] : *node.as_table())
        PGV_RETURN_IF_ERROR(ApplyConfigKey(path, sub, value, options, "retention-"));
      continue;
    }
    if (node.is_table())
      return ConfigError(path, key.source().begin.line,
                         fmt::format("sections are not supported ('[{}]')", key.str()),
                         "put every option at the top level, before any [section] (only "
                         "[schedule] and [cluster.NAME] are read, by the daemon)");
    PGV_RETURN_IF_ERROR(ApplyConfigKey(path, key, node, options));
  }
  return Status::Ok();
}

Result<Options> Resolve(Command command, const FlagValues& flags, const EnvLookup& env) {
  Options options = DefaultOptions();
  std::string config_path;
  if (const char* v = env("PGVAULT_CONFIG")) config_path = v;
  for (const auto& [name, value] : flags)
    if (name == "config") config_path = value;
  if (!config_path.empty()) PGV_RETURN_IF_ERROR(ApplyConfigFile(config_path, options));
  PGV_RETURN_IF_ERROR(ApplyEnv(env, options));
  PGV_RETURN_IF_ERROR(ApplyFlags(command, flags, options));
  options.config = config_path;
  return options;
}

}  // namespace pgvault::config

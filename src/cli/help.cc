#include "cli/help.h"

#include <fmt/format.h>

#include <algorithm>

namespace pgvault::cli {
namespace {

using config::OptionSpec;

std::string ValueName(const OptionSpec& spec) {
  if (!spec.value_name.empty()) return std::string(spec.value_name);
  switch (config::TypeOf(spec)) {
    case config::Type::kBool:
      return "";
    case config::Type::kInt:
      return "N";
    default:
      break;
  }
  if (!spec.allowed.empty()) {
    std::string out;
    for (auto a : spec.allowed) out += (out.empty() ? "" : "|") + std::string(a);
    return out;
  }
  return "TEXT";
}

// "(1-256, default 2)" and the like; "" when there is nothing to say.
std::string Constraints(const OptionSpec& spec) {
  std::vector<std::string> parts;
  if (spec.min < spec.max) parts.push_back(fmt::format("{}-{}", spec.min, spec.max));
  if (!spec.default_value.empty() && config::TypeOf(spec) != config::Type::kBool)
    parts.push_back(fmt::format("default {}", spec.default_value));
  if (parts.empty()) return "";
  std::string out = " (";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + ")";
}

std::string OptionLine(const OptionSpec& spec) {
  std::string flag = "--" + std::string(spec.name);
  std::string value = ValueName(spec);
  if (!value.empty()) flag += " " + value;
  return fmt::format("  {:<38} {}{}\n", flag, spec.help, Constraints(spec));
}

// Options of the set, grouped in table order, without those every command takes.
std::string OptionSections(config::CommandSet commands) {
  constexpr config::CommandSet kEvery = config::kAllCommands;
  std::vector<std::string_view> groups;
  for (const auto& spec : config::OptionTable())
    if (std::find(groups.begin(), groups.end(), spec.group) == groups.end())
      groups.push_back(spec.group);
  std::string out;
  for (auto group : groups) {
    std::string lines;
    for (const auto& spec : config::OptionTable()) {
      if (spec.group != group || (spec.commands & commands) == 0) continue;
      if (spec.commands == kEvery) continue;
      lines += OptionLine(spec);
    }
    if (!lines.empty()) out += fmt::format("\n{}:\n{}", group, lines);
  }
  return out;
}

std::string GlobalOptionLines() {
  std::string out;
  for (const auto& spec : config::OptionTable())
    if (spec.commands == config::kAllCommands) out += OptionLine(spec);
  return out;
}

}  // namespace

std::string GlobalHelp() {
  std::string out =
      "pgvault: backup and point-in-time recovery for PostgreSQL\n\n"
      "Usage: pgvault [OPTIONS] COMMAND [ARGS] [OPTIONS]\n\nCommands:\n";
  for (const auto& c : config::CommandTable()) out += fmt::format("  {:<14} {}\n", c.name, c.help);
  out += "\nOptions every command takes:\n";
  for (const auto& spec : config::OptionTable())
    if (spec.commands == config::kAllCommands) out += OptionLine(spec);
  out +=
      "\n'pgvault COMMAND --help' lists the options of a command. Every option --NAME can also be "
      "set\nas PGVAULT_NAME (upper case, '_' for '-') or as NAME = value in the config file; a "
      "flag wins\nover the environment, which wins over the file.\n";
  return out;
}

std::string CommandHelp(const config::CommandSpec& command) {
  std::string args = command.args.empty() ? "" : " " + std::string(command.args);
  return fmt::format("Usage: pgvault {} [OPTIONS]{}\n\n{}\n{}\nOptions every command takes:\n{}",
                     command.name, args, command.help, OptionSections(config::Bit(command.id)),
                     GlobalOptionLines());
}

std::string OptionsMarkdown() {
  std::string out =
      "| option | environment | values | default | commands | meaning |\n"
      "|---|---|---|---|---|---|\n";
  constexpr config::CommandSet kEvery = config::kAllCommands;
  for (const auto& spec : config::OptionTable()) {
    std::string values = ValueName(spec);
    if (spec.min < spec.max) values += fmt::format(" ({}-{})", spec.min, spec.max);
    if (config::TypeOf(spec) == config::Type::kBool) values = "flag";
    if (config::TypeOf(spec) == config::Type::kList) values += ", repeatable";
    std::string commands;
    if (spec.commands == kEvery) {
      commands = "all";
    } else if (spec.commands == (kEvery & ~config::Bit(config::Command::kVersion))) {
      commands = "all but version";
    } else {
      for (const auto& c : config::CommandTable())
        if (config::Takes(spec, c.id))
          commands += (commands.empty() ? "" : ", ") + std::string(c.name);
    }
    std::string escaped_values;
    for (char c : values) escaped_values += c == '|' ? std::string("\\|") : std::string(1, c);
    out +=
        fmt::format("| `--{}` | `{}` | {} | {} | {} | {} |\n", spec.name,
                    config::EnvName(spec.name), escaped_values,
                    spec.default_value.empty() ? "" : "`" + std::string(spec.default_value) + "`",
                    commands, spec.help);
  }
  return out;
}

}  // namespace pgvault::cli

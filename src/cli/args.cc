#include "cli/args.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>

namespace pgvault::cli {
namespace {

using config::OptionSpec;

constexpr char kHelpOptions[] = "help-options";

std::string CommandList() {
  std::string out;
  for (auto name : config::CommandNames()) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

Status UnknownOption(const std::string& word) {
  std::string name = word.substr(0, word.find('='));
  std::string bare = name.starts_with("--") ? name.substr(2) : name.substr(1);
  std::string near = config::NearestName(bare, config::OptionNames());
  return std::move(Status::InvalidArgument(
                       near.empty()
                           ? fmt::format("unknown option '{}'", name)
                           : fmt::format("unknown option '{}', did you mean '--{}'?", name, near)))
      .WithHint("'pgvault COMMAND --help' lists the options of a command");
}

Status UnknownCommand(const std::string& word) {
  std::string near = config::NearestName(word, config::CommandNames());
  return std::move(Status::InvalidArgument(
                       near.empty()
                           ? fmt::format("unknown command '{}'", word)
                           : fmt::format("unknown command '{}', did you mean '{}'?", word, near)))
      .WithHint(fmt::format("commands: {}; see 'pgvault --help'", CommandList()));
}

// Finds the command word and reports unknown options and commands before CLI11 parses, so that
// every mistake gets a message that names it.
Status Scan(int argc, const char* const* argv, Invocation& inv) {
  bool command_seen = false;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") break;
    if (word == "--help" || word == "-h") {
      inv.help = true;
      continue;
    }
    if (word.starts_with("--") && !(inv.help_options && word == "--markdown")) {
      size_t eq = word.find('=');
      const OptionSpec* spec = config::FindOption(word.substr(2, eq == word.npos ? eq : eq - 2));
      if (!spec) return UnknownOption(word);
      if (config::TypeOf(*spec) != config::Type::kBool && eq == std::string::npos) ++i;
      continue;
    }
    if (word.size() > 1 && word.front() == '-' && !inv.help_options) return UnknownOption(word);
    if (command_seen) continue;
    command_seen = true;
    if (word == kHelpOptions) {
      inv.help_options = true;
      continue;
    }
    inv.command = config::FindCommand(word);
    if (!inv.command) return UnknownCommand(word);
  }
  if (!command_seen && !inv.help)
    return std::move(Status::InvalidArgument("no command given"))
        .WithHint(fmt::format("commands: {}; see 'pgvault --help'", CommandList()));
  return Status::Ok();
}

}  // namespace

Result<Invocation> ParseArgs(int argc, const char* const* argv) {
  Invocation inv;
  PGV_RETURN_IF_ERROR(Scan(argc, argv, inv));
  if (inv.help || inv.help_options) return inv;
  CLI::App app{"pgvault", "pgvault"};
  app.set_help_flag();
  app.require_subcommand(1);
  std::vector<std::pair<const OptionSpec*, CLI::Option*>> options;
  for (const auto& spec : config::OptionTable()) {
    std::string flag = "--" + std::string(spec.name);
    CLI::Option* opt = config::TypeOf(spec) == config::Type::kBool
                           ? app.add_flag(flag)
                           : app.add_option(flag)->expected(1)->multi_option_policy(
                                 CLI::MultiOptionPolicy::TakeAll);
    options.emplace_back(&spec, opt);
  }
  for (const auto& cmd : config::CommandTable()) {
    CLI::App* sub = app.add_subcommand(std::string(cmd.name));
    sub->set_help_flag();
    sub->fallthrough();
    if (cmd.arg_count > 0) sub->add_option("args", inv.positional);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    return std::move(Status::InvalidArgument(what))
        .WithHint(fmt::format("see 'pgvault {} --help'", inv.command->name));
  }
  for (const auto& [spec, opt] : options) {
    if (opt->count() == 0) continue;
    if (config::TypeOf(*spec) == config::Type::kBool) {
      inv.flags.emplace_back(spec->name, "true");
      continue;
    }
    for (const auto& value : opt->results()) inv.flags.emplace_back(spec->name, value);
  }
  return inv;
}

}  // namespace pgvault::cli

// The option table: every pgvault command and every option, declared once. CLI flags, PGVAULT_*
// variables, config-file keys, --help and the options forwarded into restore_command all read
// it (modelled on pgBackRest's src/build/config/config.yaml).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/options.h"

namespace pgvault::config {

enum class Command : int {
  kRepoCreate,
  kBackup,
  kRestore,
  kArchivePush,
  kArchiveGet,
  kInfo,
  kCheck,
  kVerify,
  kKeyAdd,
  kRepoSync,
  kExpire,
  kHold,
  kDrill,
  kGc,
  kCatalogExport,
  kDaemon,
  kWalStream,
  kVersion,  // last: kAllCommands relies on it
};

struct CommandSpec {
  Command id;
  std::string_view name;
  std::string_view help;
  std::string_view args;  // positional arguments for usage lines, e.g. "NAME DEST"; "" = none
  size_t arg_count;
};

// A set of commands, one bit per Command.
using CommandSet = uint32_t;
constexpr CommandSet Bit(Command c) { return CommandSet{1} << static_cast<int>(c); }
inline constexpr CommandSet kAllCommands = (Bit(Command::kVersion) << 1) - 1;

// The Options field an option fills; its type decides how values are parsed.
using Field =
    std::variant<std::string Options::*, int Options::*, int64_t Options::*, uint32_t Options::*,
                 bool Options::*, std::vector<std::string> Options::*>;

// How an option travels into the restore_command that restore writes (archive-get runs it).
enum class Forward {
  kNo,
  kValue,  // the value as given, when it differs from the default
  kPath,   // a local path: made absolute (restore_command runs in PGDATA)
};

struct OptionSpec {
  std::string_view name;  // flag --NAME, variable PGVAULT_NAME (dashes as '_'), config key NAME
  Field field;
  std::string_view default_value;  // as text; "" = none
  CommandSet commands;             // the commands that take it
  std::string_view group;          // --help section
  std::string_view help;
  std::string_view value_name = "";            // e.g. "DIR" in --help; "" = derived from the type
  std::vector<std::string_view> allowed = {};  // allowed values of a string option
  int64_t min = 0, max = 0;                    // range of an integer option (min < max)
  Forward forward = Forward::kNo;
};

enum class Type { kString, kInt, kBool, kList };
Type TypeOf(const OptionSpec& spec);
// "PGVAULT_KEY_FILE" for "key-file".
std::string EnvName(std::string_view option);

const std::vector<CommandSpec>& CommandTable();
const std::vector<OptionSpec>& OptionTable();
const CommandSpec* FindCommand(std::string_view name);
const OptionSpec* FindOption(std::string_view name);
bool Takes(const OptionSpec& spec, Command command);

// The candidate nearest to word (edit distance at most 2, or a prefix match), else "".
std::string NearestName(std::string_view word, const std::vector<std::string_view>& candidates);
std::vector<std::string_view> CommandNames();
std::vector<std::string_view> OptionNames();

}  // namespace pgvault::config

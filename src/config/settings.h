// Merging: option table defaults, then the TOML config file (--config or PGVAULT_CONFIG), then
// PGVAULT_* variables, then flags; each value is parsed and checked against the table on the way.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/option_table.h"

namespace pgvault::config {

// Options given on the command line, in order: {name, value}; a flag has value "true".
using FlagValues = std::vector<std::pair<std::string, std::string>>;
// Looks up an environment variable; nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Every field at its table default.
Options DefaultOptions();

// The options of one command run. Flags the command does not take are kInvalidArgument, so are
// bad flag values; problems in the config file or the environment are kConfig.
Result<Options> Resolve(Command command, const FlagValues& flags, const EnvLookup& env);

// Applies config-file text (TOML) to options; path names the file in messages. Without a
// section, the top-level keys; the daemon's sections ([schedule], [cluster.NAME]) are skipped
// and any other section is kConfig. With section "cluster.NAME", the keys of that section.
Status ApplyConfigText(const std::string& text, const std::string& path, Options& options,
                       const std::string& section = "");

// Parses value as the option's type and checks its range or allowed values. where names the
// source in messages ("--jobs", "PGVAULT_JOBS", "'jobs' in config file 'F' line 3").
Status SetOption(const OptionSpec& spec, const std::string& value, const std::string& where,
                 Code code, Options& options);

}  // namespace pgvault::config

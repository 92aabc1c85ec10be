// argv -> the command, its flags and positional arguments. Flags come from the option table;
// unknown commands and options are reported with the nearest name.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "config/settings.h"

namespace pgvault::cli {

struct Invocation {
  const config::CommandSpec* command = nullptr;  // null only with help or help_options
  bool help = false;                             // --help or -h anywhere
  bool help_options = false;                     // hidden: pgvault help-options [--markdown]
  config::FlagValues flags;
  std::vector<std::string> positional;
};

Result<Invocation> ParseArgs(int argc, const char* const* argv);

}  // namespace pgvault::cli

// --help text and the options reference for docs/user-guide.md, generated from the option table.
#pragma once

#include <string>

#include "config/option_table.h"

namespace pgvault::cli {

// pgvault --help: the commands and the options every command takes.
std::string GlobalHelp();
// pgvault COMMAND --help: usage and the command's options, grouped.
std::string CommandHelp(const config::CommandSpec& command);
// pgvault help-options --markdown: one table row per option (docs/user-guide.md).
std::string OptionsMarkdown();

}  // namespace pgvault::cli

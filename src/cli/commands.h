// The command table: every pgvault command with its one-line help and entry point.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/options.h"

namespace pgvault::cli {

// The values of every option for one run (config/options.h).
using Options = config::Options;

int Main(int argc, char** argv);

}  // namespace pgvault::cli

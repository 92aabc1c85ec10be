// The restore side of the commands: recovery target and standby flags into RestoreOptions.
#pragma once

#include "config/options.h"
#include "restore/restore.h"

namespace pgvault::cli {

// Recovery target flags -> ro.target (at most one target kind), and the standby, archive_mode
// and port options; kInvalidArgument with a hint for flags that do not go together.
Status FillRestoreTarget(const config::Options& o, restore::RestoreOptions& ro);

}  // namespace pgvault::cli

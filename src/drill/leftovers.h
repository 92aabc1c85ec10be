// Scratch directories of drills that were killed. A drill killed (kill -9, a crash, a lost
// daemon) cannot stop its scratch server or remove its directory, and a daily drill would then
// pile up running PostgreSQL servers. Each drill writes its pid into <scratch>/drill.pid first;
// the next drill, before it makes its own, stops the server of and removes every
// pgvault-drill-* directory in the same temp directory whose drill process is gone.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace pgvault::drill {

// Records this process as the owner of scratch.
Status WriteDrillPid(const std::string& scratch);

// The temp directory drills make their scratch directories in ($TMPDIR, else /tmp).
std::string DrillTempDir();

// Stops the leftover servers and removes the leftover directories under tmp_dir; returns one
// line per directory cleaned (for the log). A directory whose drill still runs, or whose owner
// cannot be told (no drill.pid: made by an older pgvault, or just being made), is left alone.
std::vector<std::string> CleanLeftoverScratch(const std::string& tmp_dir);

}  // namespace pgvault::drill

// restore --delta: the checks on an existing data directory before anything is changed, and the
// removal of what the backup does not hold. The files themselves are compared block by block by
// FileRestorer in delta mode (file_restorer.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "repo/manifest.h"

namespace pgvault::restore {

// Whether restore --delta may work on pgdata: an empty or missing directory (a plain restore),
// or a data directory of the cluster with this system identifier (decimal, as in the manifest
// header) on which no server runs. A directory without global/pg_control is accepted only when
// it holds an interrupted restore's marker (a delta restore removes pg_control first).
// kPg when postmaster.pid names a live process; kInvalidArgument for another cluster or no data
// directory. Nothing is changed either way.
Status CheckDeltaTarget(const std::string& pgdata, const std::string& system_identifier);

// Whether restore --delta may clean a tablespace directory: missing, empty, or holding nothing
// but PostgreSQL's PG_<version>_<catalog> directories (and a restore's marker), so that a
// --tablespace-map pointing at an unrelated directory never has its files removed.
// kInvalidArgument naming the first other entry.
Status CheckDeltaTablespace(const std::string& dir);

// The entries of a backup by path (kSymlink: tablespace links), and where each tablespace's
// link must point.
using BackupPaths = std::map<std::string, repo::EntryType>;
using TablespaceTargets = std::map<std::string, std::string>;  // oid -> directory

// Removes from pgdata everything the backup does not hold, or holds as another type (a file
// where the backup has a directory, ...), as the backup's own rules left it out (postmaster.pid,
// pg_wal's segments, temporary files, ...); tablespace links that point elsewhere go too.
// Walks into each tablespace's directory as the backup's pg_tblspc/<oid>/ and into a pg_wal that
// is a link to a directory (kept: WAL on another disk). The incomplete markers stay. Returns the
// number of entries removed (a removed directory counts with everything in it).
Result<uint64_t> RemoveExtraneous(const std::string& pgdata, const BackupPaths& paths,
                                  const TablespaceTargets& ts_targets);

}  // namespace pgvault::restore

// The health checks' measurements that need the OS (statvfs), the server or the storage; the
// verdicts are health.h's.
#pragma once

#include <string>

#include "check/health.h"
#include "pg/session.h"
#include "storage/storage.h"

namespace pgvault::check {

// disk_<what> for path (statvfs); a path that cannot be examined is a warning.
HealthCheck ProbeDisk(const std::string& name, const std::string& path, const FreeSpace& min_free);
// disk_pgdata: the server's data_directory when it is this server's and readable here (its
// postmaster.pid names the server's port); skipped (ok) otherwise, e.g. a remote server.
HealthCheck ProbePgdata(pg::PgSession& session, const std::string& data_directory,
                        const FreeSpace& min_free);
// repository_writable: writes a probe object (layout.h ProbeKey), reads it back, deletes it.
HealthCheck ProbeRepositoryWritable(storage::Storage& storage);
// clock_skew: the storage server's clock against the local one (skipped for a local repository).
HealthCheck ProbeClockSkew(storage::Storage& storage, const Thresholds& thresholds);
// The replication facts of a standby (in_recovery) or of a primary and its standbys.
Result<ReplicationFacts> ReadReplication(pg::PgSession& session, bool standby);

}  // namespace pgvault::check

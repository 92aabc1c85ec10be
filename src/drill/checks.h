// The checks a drill runs against the restored, promoted cluster: every database accepts
// connections; row counts of every table (reported); every foreign key re-validated with an
// anti-join (violations counted); pg_amcheck on heaps and btree indexes when installed; roles
// present; then the user's checks (drill/checks_file.h).
#pragma once

#include <string>
#include <vector>

#include "drill/checks_file.h"
#include "repo/catalog_records.h"

namespace pgvault::drill {

struct ScratchServer {
  std::string socket_dir;  // connect here (unix socket)
  int port = 0;
  std::string user;
  int pg_version = 0;
};

std::vector<repo::DrillCheck> RunAutomaticChecks(const ScratchServer& server);
std::vector<repo::DrillCheck> RunUserChecks(const ScratchServer& server,
                                            const std::vector<UserCheck>& checks);

}  // namespace pgvault::drill

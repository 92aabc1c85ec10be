// catalog-export: every backup of the repository as a row of table backup_catalog in a
// PostgreSQL database (created if missing), upserted by backup id, so that teams can query their
// backups in SQL. docs/user-guide.md ("Backup catalog in SQL") has the columns.
#pragma once

#include <cstdint>
#include <string>

#include "repo/repository.h"

namespace pgvault::info {

struct CatalogExportResult {
  uint64_t inserted = 0;
  uint64_t updated = 0;
  uint64_t damaged = 0;  // backups whose manifest cannot be read: exported with their id only
};

// conninfo: a libpq connection string or URI; it may hold a password, so it is never printed.
Result<CatalogExportResult> ExportCatalog(repo::Repository& repo, const std::string& conninfo);

}  // namespace pgvault::info

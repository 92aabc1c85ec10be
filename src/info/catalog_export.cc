#include "info/catalog_export.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "common/time.h"
#include "pg/session.h"
#include "repo/catalog.h"
#include "repo/manifest.h"

namespace pgvault::info {

namespace {

constexpr char kCreateTable[] = R"(CREATE TABLE IF NOT EXISTS backup_catalog (
  id text PRIMARY KEY,
  backup_type text NOT NULL,
  backup_date timestamptz,
  backup_location text NOT NULL,
  backup_size_bytes bigint,
  compression_ratio double precision,
  encryption_status text,
  verification_status text,
  verification_date timestamptz,
  restoration_tested boolean NOT NULL DEFAULT false,
  restoration_test_date timestamptz,
  retention_date timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  metadata jsonb
))";

// Parameters are text; '' is NULL. xmax = 0 tells an inserted row from an updated one.
constexpr char kUpsert[] = R"(INSERT INTO backup_catalog AS c (id, backup_type, backup_date,
  backup_location, backup_size_bytes, compression_ratio, encryption_status, verification_status,
  verification_date, restoration_tested, restoration_test_date, retention_date, metadata)
VALUES ($1, $2, NULLIF($3, '')::timestamptz, $4, NULLIF($5, '')::bigint,
  NULLIF($6, '')::double precision, NULLIF($7, ''), NULLIF($8, ''),
  NULLIF($9, '')::timestamptz, $10::boolean, NULLIF($11, '')::timestamptz,
  NULLIF($12, '')::timestamptz, NULLIF($13, '')::jsonb)
ON CONFLICT (id) DO UPDATE SET backup_type = EXCLUDED.backup_type,
  backup_date = EXCLUDED.backup_date, backup_location = EXCLUDED.backup_location,
  backup_size_bytes = EXCLUDED.backup_size_bytes, compression_ratio = EXCLUDED.compression_ratio,
  encryption_status = EXCLUDED.encryption_status,
  verification_status = EXCLUDED.verification_status,
  verification_date = EXCLUDED.verification_date,
  restoration_tested = EXCLUDED.restoration_tested,
  restoration_test_date = EXCLUDED.restoration_test_date,
  retention_date = EXCLUDED.retention_date, metadata = EXCLUDED.metadata
RETURNING (xmax = 0)::text)";

// The manifest header without the large or path-like fields: what a catalog query needs.
nlohmann::json HeaderSummary(const repo::ManifestHeader& h) {
  nlohmann::json j = repo::ManifestHeaderToJson(h);
  for (const char* field : {"backup_label", "tablespace_map", "tablespaces", "pgdata"})
    j.erase(field);
  return j;
}

std::string RecordTime(const std::optional<repo::CatalogRecord>& record) {
  return record ? FormatIsoMicros(record->time_unix_micros) : "";
}

// The upsert's parameters for one backup.
Result<std::vector<std::string>> RowOf(repo::Repository& repo, const repo::ListedBackup& b) {
  std::string location = repo.storage().Describe() + "/backups/" + b.id;
  if (!b.intact())
    return std::vector<std::string>{
        b.id, "damaged", "", location, "", "", "", "damaged: " + b.damage, "", "false", "", "", ""};
  const repo::ManifestHeader& h = *b.header;
  PGV_ASSIGN_OR_RETURN(auto records, repo::ListCatalogRecords(repo, b.id));
  auto verify = repo::NewestRecord(records, repo::RecordKind::kVerify);
  auto drill = repo::NewestRecord(records, repo::RecordKind::kDrill);
  std::string ratio = h.stats.bytes_new > 0
                          ? fmt::format("{}", static_cast<double>(h.stats.bytes_new_raw) /
                                                  static_cast<double>(h.stats.bytes_new))
                          : "";
  std::string verification;
  if (verify) verification = verify->body.value("result", std::string("recorded"));
  return std::vector<std::string>{b.id,
                                  h.type,
                                  h.stop_time,
                                  location,
                                  std::to_string(h.stats.bytes_read),
                                  ratio,
                                  h.cipher == "none" ? "none" : "encrypted (" + h.cipher + ")",
                                  verification,
                                  RecordTime(verify),
                                  drill ? "true" : "false",
                                  RecordTime(drill),
                                  h.retain_until,
                                  HeaderSummary(h).dump()};
}

}  // namespace

Result<CatalogExportResult> ExportCatalog(repo::Repository& repo, const std::string& conninfo) {
  PGV_ASSIGN_OR_RETURN(auto session, pg::PgSession::Connect({.conninfo = conninfo}));
  PGV_ASSIGN_OR_RETURN(auto backups, repo.ListBackupHeaders());
  PGV_RETURN_IF_ERROR(session->Query(kCreateTable).status());
  CatalogExportResult result;
  for (const auto& b : backups) {
    PGV_ASSIGN_OR_RETURN(auto row, RowOf(repo, b));
    PGV_ASSIGN_OR_RETURN(auto inserted, session->Scalar(kUpsert, row));
    (inserted == "true" ? result.inserted : result.updated)++;
    if (!b.intact()) result.damaged++;
  }
  return result;
}

}  // namespace pgvault::info

// The catalog's records (docs/repository-format.md, "Catalog records"): what happened to a
// backup after it was written — a verify, a restore drill, a pin — kept as write-once objects
//   catalog/<backup-id>/<kind>.<time>.<nonce>
// beside the backup's manifest. A record is sealed by the codec (authenticated, encrypted when
// the repository is) with its own key as associated data, so it cannot be moved to another
// backup or kind. Records are never rewritten: the newest record of a kind is the current state
// (a pin and a later unpin are two records). A record is one Put, so a process killed while
// writing one leaves either the whole record or nothing (write-once keys; posix renames).
//
// The backup's own facts (LSNs, times, sizes, tiers) live in its manifest header; `info`
// joins the two. expire removes a backup's records with the backup.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "pipeline/codec.h"

namespace pgvault::repo {

class Repository;

// Values are part of object names: never rename.
// kWalCut: expire trimmed WAL before body "cut" (a segment name) on every timeline, except the
// kept backups' own ranges (retention/wal_gc.h); written on the PITR window's oldest backup.
enum class RecordKind { kVerify, kDrill, kPin, kWalCut };
std::string_view RecordKindName(RecordKind kind);

struct CatalogRecord {
  std::string backup_id;
  RecordKind kind = RecordKind::kVerify;
  int64_t time_unix_micros = 0;  // when it was written; orders records of one kind
  nlohmann::json body;           // the kind's typed record, as JSON (mapped by its owner)
};

// Writes one record (write-once). kInvalidArgument for an id that is not a backup id.
Status AppendCatalogRecord(Repository& repo, const CatalogRecord& record);

// Every record of one backup, oldest first. A record that does not decode is kCorruption
// naming its object (a flipped byte is never read as some other state).
Result<std::vector<CatalogRecord>> ListCatalogRecords(Repository& repo, std::string_view backup_id);

// The newest record of `kind` among `records` (as ListCatalogRecords returns them).
std::optional<CatalogRecord> NewestRecord(const std::vector<CatalogRecord>& records,
                                          RecordKind kind);

// Decodes a record object as a check (repo-sync verifies before copying): its name must be a
// record name of a known kind and its body a sealed JSON object.
Status VerifyCatalogRecordObject(const pipeline::Codec& codec, std::string_view key,
                                 ByteView object);

// Removes every record of a backup (expire, after its manifest is gone).
Status RemoveCatalogRecords(Repository& repo, std::string_view backup_id);

}  // namespace pgvault::repo

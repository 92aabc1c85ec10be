// expire and hold: removing a backup and the data only it used, and legal holds.
// Deletion removes the reference (the manifest) before the objects, and never touches an object
// that is still locked (retention or legal hold): it is kept and reported.
#pragma once

#include <string>
#include <vector>

#include "repo/repository.h"

namespace pgvault::retention {

struct ExpireResult {
  std::string backup_id;
  uint64_t packs_deleted = 0;
  uint64_t bytes_deleted = 0;
  uint64_t packs_locked = 0;  // unreferenced but locked: kept
  uint64_t packs_recent = 0;  // unreferenced but younger than the grace period: kept
  std::vector<std::string> locked_examples;
  // A remaining backup is damaged: its references are unknown, so no pack was deleted.
  std::string gc_skipped_for;
  // A backup started while expire ran: it may reuse blocks of the expired backup's packs, so no
  // pack was deleted (the next expire collects them).
  std::string gc_skipped_running;
  // How many backups this run expired, on the result that counts the packs (the last); 0 on the
  // others (their packs are counted there).
  size_t expired_together = 1;
};

// kConflict when the backup is retained or on legal hold, or a backup is running. A damaged
// backup (its manifest cannot be decoded, or parts are left without their manifest) is removed
// by listing backups/<id>/, since its header cannot name its objects.
Result<ExpireResult> ExpireBackup(repo::Repository& repo, const std::string& backup_id,
                                  int64_t grace_seconds = 3600);
// The same for several backups at once: their manifests go one after the other, then the packs
// none of the remaining backups references are collected once (the pack counts are on the last
// result). A failure stops at that backup; the packs of those removed before it wait for gc.
Result<std::vector<ExpireResult>> ExpireBackups(repo::Repository& repo,
                                                const std::vector<std::string>& backup_ids,
                                                int64_t grace_seconds = 3600);

struct HoldResult {
  uint64_t objects = 0;
};
Result<HoldResult> SetHold(repo::Repository& repo, const std::string& backup_id, bool on);

// "expired backup ID: ..."; locked packs that were kept follow on lines of their own.
std::string SummaryLine(const ExpireResult& r);

}  // namespace pgvault::retention

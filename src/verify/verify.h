// verify: proves that what the repository holds restores, without restoring it.
//
// For every backup (or one): each file's manifest entry against its checksum and size, then
// every block read back exactly as restore reads it (ranged reads, decryption, decompression,
// delta application) and, unlike restore, its plaintext hashed again and compared with its id
// even where AES-GCM already authenticated it. Then every archived WAL file is opened and
// decoded, and the archive is checked for gaps from the oldest backup on. One repository at a
// time: with replicas, a damaged copy would be read from the other and go unnoticed.
// Every pack's trailer index is read and each block reference checked against it; with every
// backup verified (no --backup), objects no backup references are reported (verify/objects.h).
#pragma once

#include <string>
#include <vector>

#include "repo/catalog_records.h"
#include "repo/repository.h"

namespace pgvault::verify {

struct VerifyOptions {
  std::string backup_id;  // empty = every backup
  int jobs = 2;
  bool wal = true;
  // Share of each file's blocks read back (verify --sample); 100 reads every block. The
  // manifest and every pack index are checked in full either way.
  double sample_percent = 100;
};

struct BackupResult {
  std::string backup_id;
  uint64_t files = 0, blocks = 0, bytes = 0;
  uint64_t pages_checked = 0;         // data pages whose checksum matched (clusters with checksums)
  std::vector<std::string> problems;  // one line each, at most a few per backup
  Status unavailable;  // a read failed for good (kUnavailable): the backup was not read to the end
};

struct VerifyReport {
  std::vector<BackupResult> backups;
  uint64_t wal_files = 0, wal_bytes = 0, wal_missing_segments = 0;
  std::vector<std::string> wal_problems;  // damaged WAL objects and gaps
  // Damaged pack trailers, block references a pack's index lacks, manifest parts without their
  // manifest (verify/objects.h says which findings are errors and which warnings).
  std::vector<std::string> object_problems;
  std::vector<std::string> warnings;  // "unreferenced: ..." objects; verify still says OK
  double seconds = 0;
  double sample_percent = 100;
  int64_t started_unix_micros = 0;
  size_t problem_count() const;
};

// Fails only when the repository cannot be read at all; damage is reported in the report.
Result<VerifyReport> Verify(repo::Repository& repo, const VerifyOptions& options);

// The catalog record of one verified backup: its own problems plus the repository's (damaged
// objects, WAL gaps), which any backup may depend on.
repo::VerifyRecord RecordFor(const VerifyReport& report, const BackupResult& backup);
// Writes RecordFor every backup in the report (verify, recorded: docs/repository-format.md).
Status RecordResults(repo::Repository& repo, const VerifyReport& report);

// A few lines for a person; the last line says "verify: OK" or how many problems were found.
std::string FormatText(const VerifyReport& report);

}  // namespace pgvault::verify

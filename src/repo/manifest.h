// Backup manifests (docs/repository-format.md, "Manifest"). A backup is:
//   backups/<id>/files.000000 ..  parts: sealed batches of FileEntry records, sorted by path
//   backups/<id>/manifest         sealed JSON header: metadata, totals, number of parts
// Parts are written as they fill and the header last, so a backup without its manifest object
// does not exist. Readers stream one part at a time: memory stays bounded by the part size.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/codec.h"
#include "pipeline/crypto.h"
#include "repo/pack.h"
#include "storage/storage.h"

namespace pgvault::repo {

// Values are stored on disk: never renumber.
enum class EntryType : uint8_t { kFile = 1, kDir = 2, kSymlink = 3 };

struct BlockRef {
  bool zero = false;  // an all-zero block: not stored, restored as a hole
  pipeline::Digest id{};
  BlockLocation loc;
  // A delta block: loc holds a zstd frame made against the full block base_id at base_loc
  // (always a full block, so a delta never depends on another delta).
  bool delta = false;
  pipeline::Digest base_id{};
  BlockLocation base_loc;
};

struct FileEntry {
  EntryType type = EntryType::kFile;
  std::string path;  // relative to PGDATA; tablespace files under pg_tblspc/<oid>/
  uint32_t mode = 0;
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string link_target;  // kSymlink only
  std::vector<BlockRef> blocks;
  // SHA-256 over the block ids (zero blocks count as 32 zero bytes): verifies the file's
  // content through the ids without a second full hash pass at backup time.
  pipeline::Digest checksum{};
};

pipeline::Digest FileChecksum(const std::vector<BlockRef>& blocks);

// A tablespace of the backed-up cluster: its files are under pg_tblspc/<oid>/ in the manifest.
struct TablespaceRef {
  std::string oid;       // the tablespace's OID, decimal
  std::string location;  // where the link pointed on the backed-up server
};

// CPU seconds spent per stage of the backup pipeline, summed over the workers.
struct CpuSeconds {
  double read = 0;
  double hash = 0;
  double compress = 0;
  double encrypt = 0;
  double write = 0;
};

// The totals of one backup ("stats" in the header). All fields are required unless marked.
struct BackupStats {
  uint64_t files = 0;          // regular files stored (vanished ones not counted)
  uint64_t bytes_read = 0;     // bytes read from the data directory
  uint64_t blocks = 0;         // blocks of all files
  uint64_t zero_blocks = 0;    // all-zero blocks, not stored
  uint64_t reused_blocks = 0;  // blocks already in the repository (deduplicated)
  uint64_t new_blocks = 0;     // blocks written to new packs
  uint64_t delta_blocks = 0;   // optional (absent before delta blocks): new blocks stored as deltas
  uint64_t bytes_new_raw = 0;  // new blocks' size before compression and encryption
  uint64_t bytes_new = 0;      // bytes written to new packs
  uint64_t packs_written = 0;  // new pack objects
  uint64_t files_vanished = 0;  // files removed by the server while the backup read them
  uint64_t pages_checked = 0;   // optional (absent before page checksums): pages whose checksum
                                // was verified (0 when the cluster has none or the check was off)
  uint64_t pages_failed = 0;    // optional: pages whose checksum did not match, after a re-read
  // Optional (absent before unchanged files were skipped: 0): files taken from the parent
  // backup without reading them, and their bytes (not in bytes_read).
  uint64_t files_unchanged = 0;
  uint64_t bytes_unchanged = 0;
  double duration_seconds = 0;  // wall-clock time of the backup
  CpuSeconds cpu_seconds;
};

// A page whose stored checksum did not match the computed one when the backup read it (twice).
struct PageChecksumError {
  std::string path;     // the relation file, as in the manifest
  uint64_t block = 0;   // the page's number within the relation (across segment files)
  uint32_t stored = 0;  // pd_checksum as found
  uint32_t computed = 0;
};

// The manifest header (docs/repository-format.md, "Manifest header"): a JSON object on disk,
// mapped to and from this struct in one place (manifest.cc). Reading fails with kCorruption
// naming the backup and the field when a required field is missing or has the wrong type;
// optional fields (ones older backups lack) get the default written here. Unknown fields are
// ignored, so that newer writers may add fields.
constexpr size_t kMaxPageChecksumErrors = 1000;
struct ManifestHeader {
  std::string backup_id;               // "YYYYMMDD-HHMMSSF", also the manifest's object name
  std::string type = "full";           // always "full": every backup is logically full
  std::optional<std::string> parent;   // the newest backup when this one started (JSON null)
  std::string pgvault_version;         // the pgvault version that wrote the backup
  int pg_version = 0;                  // the server's server_version_num, e.g. 150004
  std::string system_identifier;       // the cluster's system identifier, decimal text
  uint32_t timeline = 0;               // the timeline the backup started on
  uint64_t start_lsn = 0;              // pg_backup_start's LSN (JSON: PostgreSQL's "X/X" text)
  uint64_t stop_lsn = 0;               // pg_backup_stop's LSN (JSON: "X/X" text)
  std::string start_wal;               // the WAL segment holding start_lsn
  std::string stop_wal;                // the WAL segment holding stop_lsn
  uint64_t wal_segment_size = 0;       // the cluster's wal_segment_size in bytes
  std::string start_time;              // ISO 8601 with microseconds, UTC
  std::string stop_time;               // ISO 8601 with microseconds, UTC
  int64_t start_time_unix_micros = 0;  // start_time as microseconds since the epoch
  int64_t stop_time_unix_micros = 0;   // stop_time as microseconds since the epoch
  uint32_t block_size = 0;             // the repository's block size when written
  std::string compression;             // the repository's compression, e.g. "zstd"
  std::string cipher;                  // "aes-256-gcm" or "none"
  std::string pgdata;                  // the data directory that was backed up
  std::vector<TablespaceRef> tablespaces;
  std::string backup_label;    // pg_backup_stop's labelfile, restored as backup_label
  std::string tablespace_map;  // pg_backup_stop's spcmapfile ("" without tablespaces)
  BackupStats stats;
  // Optional (absent before page checksums: false, none): whether the cluster had data checksums
  // on and the backup checked them, and the first kMaxPageChecksumErrors pages that failed
  // (stats.pages_failed counts them all).
  bool data_checksums = false;
  std::vector<PageChecksumError> page_checksum_errors;
  // Optional, both present or both absent: the Object Lock retention of a retained backup.
  std::string retain_until;       // ISO 8601; "" when not retained
  int64_t retain_until_unix = 0;  // seconds since the epoch; 0 when not retained
  // Optional: the retention tiers the backup joined ("daily", "weekly", "monthly"); nullopt in
  // backups written before tiers (expire then derives them from the start times).
  std::optional<std::vector<std::string>> tiers;
  // Set by ManifestWriter::Finish.
  uint32_t parts = 0;           // number of manifest parts (files.000000 ..)
  uint64_t manifest_bytes = 0;  // stored size of those parts
};

// The one mapping between ManifestHeader and its JSON. ParseManifestHeader fails with
// kCorruption naming backup_id and the field.
nlohmann::json ManifestHeaderToJson(const ManifestHeader& header);
Result<ManifestHeader> ParseManifestHeader(std::string_view backup_id, const nlohmann::json& j);

class ManifestWriter {
 public:
  ManifestWriter(storage::Storage& storage, const pipeline::Codec& codec, std::string backup_id,
                 size_t part_size = 8 << 20)
      : storage_(storage), codec_(codec), backup_id_(std::move(backup_id)), part_size_(part_size) {}
  void set_put_options(const storage::PutOptions& options) { put_options_ = options; }
  // Entries must arrive sorted by path.
  Status Add(const FileEntry& entry);
  // Writes the last part, then the manifest object (write-once). Sets header.parts and
  // header.manifest_bytes.
  Status Finish(ManifestHeader header);

 private:
  Status FlushPart();
  storage::Storage& storage_;
  const pipeline::Codec& codec_;
  std::string backup_id_;
  size_t part_size_;
  Bytes buffer_;
  uint32_t records_in_part_ = 0;
  uint32_t parts_ = 0;
  uint64_t bytes_written_ = 0;
  storage::PutOptions put_options_;
};

Result<ManifestHeader> ReadManifestHeader(storage::Storage& storage, const pipeline::Codec& codec,
                                          std::string_view backup_id);

class ManifestReader {
 public:
  static Result<std::unique_ptr<ManifestReader>> Open(storage::Storage& storage,
                                                      const pipeline::Codec& codec,
                                                      std::string_view backup_id);
  const ManifestHeader& header() const { return header_; }
  // Returns false at the end; errors in status(): kNotFound when the backup was expired while
  // it was read (its manifest and a part are gone), kCorruption when only a part is missing.
  bool Next(FileEntry& entry);
  const Status& status() const { return status_; }

 private:
  ManifestReader(storage::Storage& storage, const pipeline::Codec& codec)
      : storage_(storage), codec_(codec) {}
  Status LoadPart(uint32_t part);
  storage::Storage& storage_;
  const pipeline::Codec& codec_;
  std::string backup_id_;
  ManifestHeader header_;
  uint32_t parts_ = 0;
  uint32_t next_part_ = 0;
  Bytes part_;
  std::unique_ptr<Decoder> decoder_;
  uint32_t remaining_in_part_ = 0;
  Status status_;
};

// Decodes a manifest or manifest-part object as a check (repo-sync verifies before copying).
Status VerifyManifestObject(const pipeline::Codec& codec, std::string_view key, ByteView object);

// Backup ids present in the repository (those with a manifest object), oldest first.
Result<std::vector<std::string>> ListBackups(storage::Storage& storage);

// A backup as listed: its header, or why it cannot be used. A backup is damaged when its
// manifest cannot be decoded or one of the parts it names is missing; damage inside a part is
// found only by reading it (restore, verify).
struct ListedBackup {
  std::string id;
  std::optional<ManifestHeader> header;  // nullopt when damaged
  std::string damage;                    // why it is damaged, "" when intact
  bool intact() const { return header.has_value(); }
};
// Every backup with a manifest object, oldest first, intact or damaged. Fails only when the
// repository cannot be listed or read (kCorruption of one backup is reported in its entry).
Result<std::vector<ListedBackup>> ListBackupHeaders(storage::Storage& storage,
                                                    const pipeline::Codec& codec);
// The hint for a damaged backup: how to find out more and how to remove it.
std::string DamagedBackupHint(std::string_view backup_id);

// Whether restore may write this entry: a relative path without empty, "." or ".." parts, and a
// symbolic link only as pg_tblspc/<oid> of a tablespace the header lists (restore points it at
// the tablespace's location), so that nothing lands outside the target directories.
// kCorruption naming the path otherwise. Restore and verify both call this.
Status CheckEntrySafe(const FileEntry& entry, const ManifestHeader& header);

}  // namespace pgvault::repo

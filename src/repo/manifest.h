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

// The manifest header is JSON so that it can grow without a format change.
using ManifestHeader = nlohmann::json;

class ManifestWriter {
 public:
  ManifestWriter(storage::Storage& storage, const pipeline::Codec& codec, std::string backup_id,
                 size_t part_size = 8 << 20)
      : storage_(storage), codec_(codec), backup_id_(std::move(backup_id)), part_size_(part_size) {}
  void set_put_options(const storage::PutOptions& options) { put_options_ = options; }
  // Entries must arrive sorted by path.
  Status Add(const FileEntry& entry);
  // Writes the last part, then the manifest object (write-once). header gets "parts" added.
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
  // Returns false at the end; errors in status().
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

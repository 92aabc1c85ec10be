// WAL objects: one per segment, history or backup-history file (docs/repository-format.md, "WAL").
//   "PGVWAL02" | Codec::Encode(original, aad = "pgvault-wal:" + name)
//   "PGVWAL01" | Codec::Encode(sha256(original) | original, ...)   (read only: format 1)
// Written once with if_absent; pushing identical bytes again is success, different bytes kConflict.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "repo/repository.h"

namespace pgvault::repo {

enum class PushOutcome { kStored, kAlreadyArchived };

Result<PushOutcome> PushWal(Repository& repo, std::string_view name, ByteView content,
                            const storage::PutOptions& options = {});
// kNotFound when the file is not in the repository; kCorruption when it does not verify.
Result<Bytes> GetWal(Repository& repo, std::string_view name);
// GetWal handing the content to sink in pieces as it is decompressed (archive-get writes a
// segment while it decodes it). When a replica's copy fails its check after sink got pieces,
// restart is called before the next replica's pieces. NotFound as GetWal.
Status GetWalTo(Repository& repo, std::string_view name,
                const std::function<Status(ByteView)>& sink, const std::function<Status()>& restart);

// Opens a stored WAL object and checks that it decodes (and its SHA-256 in format 1) (repo-sync
// verifies before copying).
// Also checks that a segment is the segment its name says (CheckWalObjectContent).
Status VerifyWalObject(Repository& repo, std::string_view key, ByteView object);

// kCorruption unless content, the decoded WAL object at key, is the file its name says: a
// segment or .partial must carry the page header of that segment (pg::CheckSegmentIdentity;
// segment_size 0 = unknown, else the cluster's).
Status CheckWalObjectContent(std::string_view key, ByteView content, uint64_t segment_size = 0);
// Reads and decodes WAL file `name` as archive-get does (trying each replica) and checks its
// content: kNotFound, or kCorruption naming the object, when recovery could not use it.
Status CheckArchivedWal(Repository& repo, std::string_view name, uint64_t segment_size);

// wal-stream's partial segments (layout.h StreamPartialKey): the first bytes of a segment that
// is still being received, sealed as WAL objects are (aad "pgvault-stream:" + key name). Pushing
// the same length again is success when the bytes are equal, kConflict otherwise.
Result<PushOutcome> PushStreamPartial(Repository& repo, std::string_view segment_name,
                                      ByteView content);
// The longest streamed part of segment_name; nullopt when there is none. kCorruption when it
// does not decode.
Result<std::optional<Bytes>> NewestStreamPartial(Repository& repo, std::string_view segment_name);
// Deletes the streamed parts of segment_name shorter than keep_length (all of them with 0).
Status DeleteStreamPartials(Repository& repo, std::string_view segment_name,
                            uint64_t keep_length = 0);
// A streamed part padded with zeros to a whole segment, as pg_receivewal's .partial files are,
// and checked to start with the long page header of segment `name`. segment_size 0: the size
// that header states. kCorruption naming the part otherwise.
Result<Bytes> PadStreamPart(std::string_view name, Bytes part, uint64_t segment_size);
struct StreamedPosition {
  std::string segment;  // the newest segment with a streamed part
  uint64_t length = 0;  // bytes of it streamed
  int64_t mtime = 0;    // when that part was stored (unix seconds; 0 when unknown)
};
// Where streaming into the repository has got to (info, metrics); nullopt when nothing is.
Result<std::optional<StreamedPosition>> LatestStreamedPosition(storage::Storage& storage);

struct WalFileInfo {
  std::string name;
  uint64_t stored_size = 0;
};
// All WAL objects, sorted by name (timeline first, then position).
Result<std::vector<WalFileInfo>> ListWal(storage::Storage& storage);

}  // namespace pgvault::repo

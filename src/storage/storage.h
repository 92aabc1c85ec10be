// Storage: the seam between the repository format and where bytes live (posix dir, S3, memory).
// Keys are '/'-separated names relative to the repository root, never starting with '/', never
// containing "..". Every implementation must be safe to call from several threads at once.
// Errors: kNotFound for a missing key, kUnavailable for retryable failures (network, throttling),
// kConflict when PutOptions::if_absent finds the key taken, kIo for anything else.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault::storage {

struct Features {
  bool atomic_if_absent = false;  // Put(if_absent) is atomic against concurrent writers
  bool object_lock = false;       // honours PutOptions::lock_until_unix
  bool local = false;             // a local directory (file locks work, paths are real)
};

struct PutOptions {
  bool if_absent = false;       // fail with kConflict instead of replacing an existing key
  int64_t lock_until_unix = 0;  // >0: write-once retention (object lock) until this time
  std::string storage_class;    // driver-specific tier hint; ignored where unsupported
  // Readable by the owner only where the store has file modes (posix: 0600 instead of 0640):
  // objects that an attacker could attack offline, such as wrapped keys.
  bool owner_only = false;
};

struct Range {
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // nullopt = to the end
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t mtime_unix = 0;
  // Object lock state, filled by Stat on drivers with features().object_lock (0/false otherwise).
  int64_t retain_until_unix = 0;
  bool legal_hold = false;
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual Features features() const = 0;
  // Human-readable location for messages, e.g. "/var/lib/pgvault" or "s3://bucket/prefix".
  virtual std::string Describe() const = 0;
  // Atomic: readers see the whole object or nothing, also after a crash. Durable on return.
  virtual Status Put(std::string_view key, ByteView data, const PutOptions& options) = 0;
  Status Put(std::string_view key, ByteView data) { return Put(key, data, PutOptions{}); }
  // kNotFound when missing; a range past the end returns the bytes that exist.
  virtual Result<Bytes> Get(std::string_view key, Range range) = 0;
  Result<Bytes> Get(std::string_view key) { return Get(key, Range{}); }
  // Get, then check(bytes): a check failure means these bytes are damaged. A driver that holds
  // other copies (ReplicatedStorage) tries the next one, and returns the first check failure
  // when no copy passes; the default reads once. The bytes returned passed the check.
  virtual Result<Bytes> GetChecked(std::string_view key, Range range,
                                   const std::function<Status(ByteView)>& check);
  // All keys that start with prefix, sorted by key. Missing prefix = empty list.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  virtual Result<ObjectInfo> Stat(std::string_view key) = 0;
  // Missing key is OK.
  virtual Status Delete(std::string_view key) = 0;

  // Deletes every key (a missing one is OK) and returns the keys that could not be deleted
  // because they are locked (object lock: retention or legal hold), each with its reason; any
  // other failure is the Status. The default deletes one at a time; S3 sends DeleteObjects
  // requests of at most 1000 keys.
  struct KeptObject {
    std::string key;
    std::string reason;
  };
  virtual Result<std::vector<KeptObject>> DeleteBatch(const std::vector<std::string>& keys);

  // Object lock (features().object_lock only; others answer kInvalidArgument).
  // Raises the COMPLIANCE retention of an existing object to until_unix; a later existing date
  // is kept (retention is never shortened).
  virtual Status ExtendRetention(std::string_view key, int64_t until_unix);
  virtual Status SetLegalHold(std::string_view key, bool on);

  // The storage server's clock in unix seconds, as it answers now (S3: the Date header of a HEAD
  // of the bucket, whatever its status), for check's clock skew check; nullopt for a driver
  // without a server clock of its own (posix, memory: the local clock). Errors as for Stat.
  virtual Result<std::optional<int64_t>> ServerTimeUnix();

  // What a writer killed mid-write left behind that no listing shows (posix: temp files before
  // their rename), untouched since before older_than_unix: removed (dry_run: only counted).
  // The default has nothing of the kind.
  struct AbandonedWrites {
    uint64_t count = 0;
    uint64_t bytes = 0;
  };
  virtual Result<AbandonedWrites> RemoveAbandonedWrites(int64_t older_than_unix, bool dry_run);
};

// Opens a repository location: a path (posix) or s3://bucket/prefix (S3, options from the caller).
// Declared here, defined in storage/open.cc so callers need not know the drivers.
struct OpenOptions {
  std::string s3_endpoint;
  std::string s3_region;
  std::string s3_uri_style;  // "path" or "host"
  std::string s3_ca_file;
  std::string s3_storage_class;
  int s3_timeout_s = 0;         // no progress for this long aborts a request (retried); 0 = default
  bool s3_object_lock = false;  // the bucket has S3 Object Lock: honour lock_until_unix
  bool create = false;          // repo-create: a local repository directory may be created
};
Result<std::unique_ptr<Storage>> OpenStorage(std::string_view location, const OpenOptions& options);

}  // namespace pgvault::storage

// Repository: an opened, unlocked pgvault repository: its storage, parameters and keys.
// Creation writes the key file(s) first and the `config` object last (write-once), so a crash
// during repo-create leaves no repository, never half of one.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/codec.h"
#include "pipeline/crypto.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "storage/storage.h"

namespace pgvault::repo {

class BlockReader;   // repo/block_reader.h
struct WalFileInfo;  // repo/wal_store.h

// Repository formats (docs/repository-format.md, "Versions"): 1 as repo-create writes it; 2 once
// `gc --repack` wrote a redirect object, which readers of format 1 would not follow. This version
// reads both; an older one refuses format 2 by its config check.
constexpr int kFormatBase = 1;
constexpr int kFormatRedirects = 2;
constexpr int kFormatVersion = kFormatRedirects;  // the newest this version reads

// Where the secret that unlocks the master key comes from. Never logged.
// The fewest characters a new passphrase or a key file may hold.
inline constexpr size_t kMinSecretChars = 16;

struct Secret {
  ~Secret() { pipeline::Wipe(passphrase); }
  std::string passphrase;     // from PGVAULT_PASSPHRASE
  std::string key_file_path;  // --key-file; its contents are the secret
  // A passphrase's key-encryption key may be kept in the kernel keyring (--key-cache).
  bool cache_kek = true;
  bool empty() const { return passphrase.empty() && key_file_path.empty(); }
};

struct RepoParams {
  bool encrypted = true;
  pipeline::Compression compression = pipeline::Compression::kZstd;
  int compression_level = 3;
  uint32_t block_size = 128 * 1024;  // see docs/design.md for the measurement
  uint64_t pack_size = 32ull << 20;  // target pack object size
  bool object_lock = false;          // storage has S3 Object Lock: backups may be retained
};

struct RepoConfig {
  int format = kFormatBase;
  std::string repo_id;  // 32 hex chars, random
  RepoParams params;
  int64_t created_unix_micros = 0;
};

class Repository {
 public:
  // Fails with kConflict if a repository (or anything else) is already there.
  static Status Create(storage::Storage& storage, const RepoParams& params, const Secret& secret);
  // kConfig when there is no repository; kCrypto for a wrong passphrase or key file.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::Storage> storage,
                                                  const Secret& secret);

  storage::Storage& storage() { return *storage_; }
  const RepoConfig& config() const { return config_; }
  const pipeline::Codec& codec() const { return *codec_; }
  const pipeline::SecretKey& id_key() const { return id_key_; }
  std::string Describe() const { return storage_->Describe(); }

  // The parts of the format bound to this repository's storage and keys, so that commands do
  // not carry (storage, codec, id key) around; each is described where its type is declared.
  Result<std::unique_ptr<ManifestReader>> OpenManifest(std::string_view backup_id);
  // A writer for a new backup's manifest (parts, then the header last).
  ManifestWriter NewManifestWriter(std::string backup_id);
  Result<ManifestHeader> ReadManifestHeader(std::string_view backup_id);
  // Rewrites the config object with format `format` (and its checksum) unless it already has it
  // or a newer one: the one change a config object ever sees (docs/repository-format.md).
  Status RaiseFormat(int format);
  // Ids of the backups that have a manifest, oldest first (manifest.h ListBackups).
  Result<std::vector<std::string>> ListBackups();
  // Every backup with its header or its damage (manifest.h ListBackupHeaders).
  Result<std::vector<ListedBackup>> ListBackupHeaders();
  // Writes packs of config().params.pack_size; times may be null.
  PackWriter NewPackWriter(pipeline::StageTimes* times = nullptr);
  // Needs repo/block_reader.h at the call site.
  BlockReader NewBlockReader(IdCheck check = IdCheck::kUnlessAuthenticated);
  // Every object under packs/ with a valid pack name, sorted by key.
  Result<std::vector<ListedPack>> ListPacks();
  Result<PackIndex> ReadPackIndex(const PackId& id, uint64_t pack_size);
  // All WAL objects, sorted by name (wal_store.h ListWal; needs wal_store.h at the call site).
  Result<std::vector<WalFileInfo>> ListWal();
  // Whether WAL file `name` is stored; kInvalidArgument when it is not a WAL file name.
  Result<bool> HasWal(std::string_view name);
  // The stored object of WAL file `name`, still sealed (for VerifyWalObject); kNotFound when
  // missing, kInvalidArgument when it is not a WAL file name.
  Result<Bytes> GetWalObject(std::string_view name);

  // The first backup or archive-push records which cluster this repository serves and its WAL
  // segment size (when known, > 0); later ones must match (kConflict otherwise).
  Status CheckCluster(uint64_t system_identifier, int pg_version_major,
                      uint64_t wal_segment_size = 0);
  // The cluster's WAL segment size as recorded by CheckCluster; 0 when no cluster is recorded yet
  // or the record predates the field (then the backups' headers carry it).
  Result<uint64_t> RecordedWalSegmentSize();

 private:
  Repository() = default;
  std::unique_ptr<storage::Storage> storage_;
  RepoConfig config_;
  std::unique_ptr<pipeline::Codec> codec_;
  pipeline::SecretKey id_key_;
  pipeline::SecretKey master_key_;
  friend Status AddKey(Repository& repo, const Secret& new_secret);
};

// A key object's shape (verify): JSON with a known kdf and its parameters, a 16-byte salt and a
// wrapped master key of the right size. Whether it unwraps needs its secret. kCorruption naming
// the object otherwise.
Status CheckKeyObject(std::string_view key, ByteView text);

// Adds another way to unlock the repository (new passphrase or key file) without touching data;
// an old key object can then be deleted. kInvalidArgument for an unencrypted repository.
Status AddKey(Repository& repo, const Secret& new_secret);

}  // namespace pgvault::repo

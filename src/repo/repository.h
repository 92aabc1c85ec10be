// Repository: an opened, unlocked pgvault repository: its storage, parameters and keys.
// Creation writes the key file(s) first and the `config` object last (write-once), so a crash
// during repo-create leaves no repository, never half of one.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "pipeline/codec.h"
#include "pipeline/crypto.h"
#include "storage/storage.h"

namespace pgvault::repo {

constexpr int kFormatVersion = 1;

// Where the secret that unlocks the master key comes from. Never logged.
// The fewest characters a new passphrase or a key file may hold.
inline constexpr size_t kMinSecretChars = 16;

struct Secret {
  std::string passphrase;     // from PGVAULT_PASSPHRASE
  std::string key_file_path;  // --key-file; its contents are the secret
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
  int format = kFormatVersion;
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

  // The first backup or archive-push records which cluster this repository serves; later ones
  // must match (kConflict otherwise).
  Status CheckCluster(uint64_t system_identifier, int pg_version_major);

 private:
  Repository() = default;
  std::unique_ptr<storage::Storage> storage_;
  RepoConfig config_;
  std::unique_ptr<pipeline::Codec> codec_;
  pipeline::SecretKey id_key_;
  pipeline::SecretKey master_key_;
  friend Status AddKey(Repository& repo, const Secret& new_secret);
};

// Adds another way to unlock the repository (new passphrase or key file) without touching data;
// an old key object can then be deleted. kInvalidArgument for an unencrypted repository.
Status AddKey(Repository& repo, const Secret& new_secret);

}  // namespace pgvault::repo

// Every object name in a repository is built and parsed here, and nowhere else.
// See docs/repository-format.md for what each object holds.
//
//   config                         repository parameters (plaintext JSON, write-once)
//   keys/<key-id>                  master key wrapped by a passphrase or key file (write-once)
//   cluster                        the PostgreSQL system identifier this repository serves
//   packs/<hh>/<pack-id>           write-once packs of sealed blocks with a trailer index
//   backups/<backup-id>/files.<n>  manifest parts: file records, sorted by path
//   backups/<backup-id>/manifest   the backup's header and summary; written last
//   wal/<timeline>/<wal-file-name> one WAL segment, history or backup-history file
//   locks/backup-<backup-id>       a running backup's claim on its id and its owner (write-once)
//   locks/backup-<backup-id>.lease the owner's latest lease renewal (rewritten while it runs)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace pgvault::repo {

constexpr std::string_view kConfigKey = "config";
constexpr std::string_view kClusterKey = "cluster";
constexpr std::string_view kKeysPrefix = "keys/";
constexpr std::string_view kPacksPrefix = "packs/";
constexpr std::string_view kBackupsPrefix = "backups/";
constexpr std::string_view kWalPrefix = "wal/";
constexpr std::string_view kLocksPrefix = "locks/";

using PackId = std::array<uint8_t, 16>;

std::string KeyFileKey(std::string_view key_id);
std::string BackupLockKey(std::string_view backup_id);
std::string BackupLeaseKey(std::string_view backup_id);
// "locks/backup-<id>" -> "<id>"; nullopt for any other key (a lease too).
std::optional<std::string> BackupIdFromLockKey(std::string_view key);
std::string PackKey(const PackId& id);
// "backups/<id>/": every object of one backup.
std::string BackupPrefix(std::string_view backup_id);
std::string ManifestKey(std::string_view backup_id);
std::string ManifestPartKey(std::string_view backup_id, uint32_t part);
// nullopt when the name is not a WAL segment, .partial, .history or .backup file.
std::optional<std::string> WalKey(std::string_view wal_file_name);

// "backups/<id>/manifest" -> "<id>"; nullopt for any other key.
std::optional<std::string> BackupIdFromManifestKey(std::string_view key);
// Backup ids sort by time: "20261128-210423F".
bool IsValidBackupId(std::string_view id);
// The id of a full backup taken at unix_seconds (UTC).
std::string BackupIdAt(int64_t unix_seconds);
// The time an id names, in unix seconds; nullopt when the id is not valid.
std::optional<int64_t> BackupIdTime(std::string_view id);

}  // namespace pgvault::repo

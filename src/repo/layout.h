// Every object name in a repository is built and parsed here, and nowhere else.
// See docs/repository-format.md for what each object holds.
//
//   config                         repository parameters (plaintext JSON, write-once)
//   keys/<key-id>                  master key wrapped by a passphrase or key file (write-once)
//   cluster                        the PostgreSQL system identifier this repository serves
//   packs/<hh>/<pack-id>           write-once packs of sealed blocks with a trailer index
//   packs/<hh>/<pack-id>.moved.<generation>  write-once redirect: where gc --repack copied the
//                                  pack's live blocks (the highest generation is current)
//   backups/<backup-id>/files.<n>  manifest parts: file records, sorted by path
//   backups/<backup-id>/manifest   the backup's header and summary; written last
//   wal/<timeline>/<wal-file-name> one WAL segment, history or backup-history file
//   catalog/<backup-id>/<kind>.<time>.<nonce>  a write-once catalog record (verify, drill, pin)
//   locks/backup-<backup-id>       a running backup's claim on its id and its owner (write-once)
//   locks/backup-<backup-id>.lease the owner's latest lease renewal (rewritten while it runs)
//   locks/gc, locks/gc.lease       the exclusive lock of gc and expire, and its lease
//   gc/mark-<time>-<nonce>         write-once gc mark: packs no backup referenced at <time>
//   stream/<timeline>/<segment>.<length>  write-once: the first <length> bytes (8 hex digits) of
//                                  a segment wal-stream is still receiving (its newest is kept)
//   probe/<time>-<nonce>           check's write probe: written, read back and deleted at once
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
constexpr std::string_view kCatalogPrefix = "catalog/";
constexpr std::string_view kGcPrefix = "gc/";
constexpr std::string_view kStreamPrefix = "stream/";
constexpr std::string_view kGcLockKey = "locks/gc";
constexpr std::string_view kGcLeaseKey = "locks/gc.lease";
constexpr std::string_view kProbePrefix = "probe/";

using PackId = std::array<uint8_t, 16>;

std::string KeyFileKey(std::string_view key_id);
// The config and the key objects: written readable by the owner only (PutOptions::owner_only),
// since a wrapped key invites offline guessing of the passphrase.
bool IsOwnerOnlyKey(std::string_view key);
std::string BackupLockKey(std::string_view backup_id);
std::string BackupLeaseKey(std::string_view backup_id);
// "locks/backup-<id>" -> "<id>"; nullopt for any other key (a lease too).
std::optional<std::string> BackupIdFromLockKey(std::string_view key);
std::string PackKey(const PackId& id);
// "packs/ab/ab12..." -> pack id; nullopt for any other key.
std::optional<PackId> PackIdFromKey(std::string_view key);
// "packs/<hh>/<pack-id>.moved.<generation, 6 digits>": the redirect object of a repacked pack.
std::string RedirectKey(const PackId& old_pack, uint32_t generation);
// "packs/<hh>/<pack-id>.moved.": every redirect generation of one pack.
std::string RedirectPrefix(const PackId& old_pack);
struct RedirectName {
  PackId old_pack{};
  uint32_t generation = 0;
};
// nullopt unless key is exactly what RedirectKey builds.
std::optional<RedirectName> ParseRedirectKey(std::string_view key);
// "backups/<id>/": every object of one backup.
std::string BackupPrefix(std::string_view backup_id);
std::string ManifestKey(std::string_view backup_id);
std::string ManifestPartKey(std::string_view backup_id, uint32_t part);
// "backups/<id>/incomplete": written before a backup's manifest objects are deleted (expire) or
// copied (repo-sync) and deleted once they are all gone or all there, so that parts left by an
// interrupted expire or sync are told apart from a lost manifest. Not copied by repo-sync.
std::string IncompleteMarkerKey(std::string_view backup_id);
bool IsIncompleteMarkerKey(std::string_view key);
// nullopt when the name is not a WAL segment, .partial, .history or .backup file.
std::optional<std::string> WalKey(std::string_view wal_file_name);
// "wal/<timeline>/<name>" -> "<name>"; nullopt for any other key (WalKey(name) must give it back).
std::optional<std::string> WalNameFromKey(std::string_view key);
// "wal/<timeline>/": every WAL object of the timeline of WAL file `wal_file_name` (its first
// 8 hex digits); nullopt when the name is not a WAL file name.
std::optional<std::string> WalTimelinePrefix(std::string_view wal_file_name);

// "stream/<timeline>/<segment>.<length as 8 hex digits>": the first length bytes of segment
// `segment_name` (a WAL segment name) as wal-stream uploaded them.
std::string StreamPartialKey(std::string_view segment_name, uint64_t length);
// "stream/<timeline>/<segment>.": every streamed part of one segment.
std::string StreamPartialPrefix(std::string_view segment_name);
struct StreamPartialName {
  std::string segment;  // the WAL segment name
  uint64_t length = 0;
};
// nullopt unless key is exactly what StreamPartialKey builds.
std::optional<StreamPartialName> ParseStreamPartialKey(std::string_view key);

// "backups/<id>/manifest" -> "<id>"; nullopt for any other key.
std::optional<std::string> BackupIdFromManifestKey(std::string_view key);
// A manifest object: "backups/<id>/manifest" (part = nullopt) or "backups/<id>/files.<n>".
struct ManifestObjectName {
  std::string backup_id;
  std::optional<uint32_t> part;
};
// nullopt unless key is exactly what ManifestKey or ManifestPartKey builds for a valid id.
std::optional<ManifestObjectName> ParseManifestObjectKey(std::string_view key);
// "backups/<x>/..." or "backups/<x>" -> "<x>", whatever <x> is (verify reports stray objects
// under the directory they sit in); nullopt outside backups/ or for an empty <x>.
std::optional<std::string> BackupDirFromKey(std::string_view key);

// "catalog/<id>/": every catalog record of one backup.
std::string CatalogPrefix(std::string_view backup_id);
// "catalog/<id>/<kind>.<YYYYMMDDTHHMMSSffffffZ>.<nonce>": kind a lowercase word, nonce 8 hex
// digits (two records written in the same microsecond get distinct names).
std::string CatalogRecordKey(std::string_view backup_id, std::string_view kind,
                             int64_t time_unix_micros, uint32_t nonce);
struct CatalogRecordName {
  std::string backup_id;
  std::string kind;
  int64_t time_unix_micros = 0;
};
// nullopt unless key is exactly what CatalogRecordKey builds for a valid backup id.
std::optional<CatalogRecordName> ParseCatalogRecordKey(std::string_view key);

// "gc/mark-<unix micros, 16 digits>-<nonce, 8 hex digits>": a gc mark written at that time.
std::string GcMarkKey(int64_t time_unix_micros, uint32_t nonce);
// The time a gc mark key names; nullopt unless key is exactly what GcMarkKey builds.
std::optional<int64_t> GcMarkTime(std::string_view key);

// "probe/<unix micros, 16 digits>-<nonce, 8 hex digits>": check's repository write probe.
std::string ProbeKey(int64_t time_unix_micros, uint32_t nonce);

// Which part of the format a key belongs to, by its prefix alone: the parsers above check the
// rest of the name.
enum class ObjectKind {
  kOther,     // not part of the format
  kConfig,    // config
  kKey,       // keys/...
  kCluster,   // cluster
  kPack,      // packs/... except redirects
  kRedirect,  // packs/<hh>/<pack-id>.moved.<generation>
  kWal,       // wal/...
  kBackup,    // backups/... except a manifest: parts and strays
  kManifest,  // backups/.../manifest
  kLock,      // locks/...
  kCatalog,   // catalog/...
  kGc,        // gc/... (gc marks: local to one repository, never copied to a replica)
  kStream,    // stream/... (wal-stream's partial segments: superseded within seconds)
  kProbe,     // probe/... (check's write probe: short-lived, never copied, never verified)
};
ObjectKind ClassifyKey(std::string_view key);
// Backup ids sort by time: "20261128-210423F".
bool IsValidBackupId(std::string_view id);
// The id of a full backup taken at unix_seconds (UTC).
std::string BackupIdAt(int64_t unix_seconds);
// The time an id names, in unix seconds; nullopt when the id is not valid.
std::optional<int64_t> BackupIdTime(std::string_view id);

}  // namespace pgvault::repo

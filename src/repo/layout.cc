#include "repo/layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>

#include "common/time.h"
#include "pg/wal_names.h"

namespace pgvault::repo {

std::string KeyFileKey(std::string_view key_id) { return fmt::format("keys/{}", key_id); }

bool IsOwnerOnlyKey(std::string_view key) {
  return key == kConfigKey || key.starts_with(kKeysPrefix);
}

std::string BackupLockKey(std::string_view backup_id) {
  return fmt::format("locks/backup-{}", backup_id);
}

std::string BackupLeaseKey(std::string_view backup_id) {
  return fmt::format("locks/backup-{}.lease", backup_id);
}

std::optional<std::string> BackupIdFromLockKey(std::string_view key) {
  constexpr std::string_view kPrefix = "locks/backup-";
  if (!key.starts_with(kPrefix)) return std::nullopt;
  std::string_view id = key.substr(kPrefix.size());
  if (!IsValidBackupId(id)) return std::nullopt;
  return std::string(id);
}

std::string PackKey(const PackId& id) {
  std::string hex = ToHex(id);
  return fmt::format("packs/{}/{}", hex.substr(0, 2), hex);
}

std::optional<PackId> PackIdFromKey(std::string_view key) {
  if (!key.starts_with(kPacksPrefix) || key.size() != kPacksPrefix.size() + 3 + 32)
    return std::nullopt;
  Bytes raw;
  if (!FromHex(key.substr(kPacksPrefix.size() + 3), raw) || raw.size() != 16) return std::nullopt;
  PackId id;
  std::copy(raw.begin(), raw.end(), id.begin());
  if (PackKey(id) != key) return std::nullopt;
  return id;
}

std::string RedirectPrefix(const PackId& old_pack) { return PackKey(old_pack) + ".moved."; }

std::string RedirectKey(const PackId& old_pack, uint32_t generation) {
  return fmt::format("{}{:06}", RedirectPrefix(old_pack), generation);
}

std::optional<RedirectName> ParseRedirectKey(std::string_view key) {
  constexpr std::string_view kMoved = ".moved.";
  size_t at = key.rfind(kMoved);
  if (at == std::string_view::npos) return std::nullopt;
  auto pack = PackIdFromKey(key.substr(0, at));
  std::string_view digits = key.substr(at + kMoved.size());
  if (!pack || digits.size() != 6 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  RedirectName name{.old_pack = *pack,
                    .generation = static_cast<uint32_t>(std::stoul(std::string(digits)))};
  if (RedirectKey(name.old_pack, name.generation) != key) return std::nullopt;
  return name;
}

std::string BackupPrefix(std::string_view backup_id) {
  return fmt::format("backups/{}/", backup_id);
}

std::string GcMarkKey(int64_t time_unix_micros, uint32_t nonce) {
  return fmt::format("{}mark-{:016}-{:08x}", kGcPrefix, time_unix_micros, nonce);
}

std::string ProbeKey(int64_t time_unix_micros, uint32_t nonce) {
  return fmt::format("{}{:016}-{:08x}", kProbePrefix, time_unix_micros, nonce);
}

std::optional<int64_t> GcMarkTime(std::string_view key) {
  constexpr size_t kSize = 3 + 5 + 16 + 1 + 8;
  if (key.size() != kSize || !key.starts_with("gc/mark-") || key[24] != '-') return std::nullopt;
  int64_t micros = 0;
  for (char c : key.substr(8, 16)) {
    if (c < '0' || c > '9') return std::nullopt;
    micros = micros * 10 + (c - '0');
  }
  Bytes nonce;
  if (!FromHex(key.substr(25), nonce) || nonce.size() != 4) return std::nullopt;
  if (GcMarkKey(micros, (uint32_t{nonce[0]} << 24) | (uint32_t{nonce[1]} << 16) |
                            (uint32_t{nonce[2]} << 8) | nonce[3]) != key)
    return std::nullopt;
  return micros;
}

std::string CatalogPrefix(std::string_view backup_id) {
  return fmt::format("{}{}/", kCatalogPrefix, backup_id);
}

std::string CatalogRecordKey(std::string_view backup_id, std::string_view kind,
                             int64_t time_unix_micros, uint32_t nonce) {
  std::time_t seconds = time_unix_micros / 1000000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{}{}.{:04}{:02}{:02}T{:02}{:02}{:02}{:06}Z.{:08x}", CatalogPrefix(backup_id),
                     kind, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, time_unix_micros % 1000000, nonce);
}

std::optional<CatalogRecordName> ParseCatalogRecordKey(std::string_view key) {
  if (!key.starts_with(kCatalogPrefix)) return std::nullopt;
  std::string_view rest = key.substr(kCatalogPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view id = rest.substr(0, slash), name = rest.substr(slash + 1);
  size_t dot = name.find('.');
  if (!IsValidBackupId(id) || dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view kind = name.substr(0, dot), stamp = name.substr(dot + 1);
  if (!std::all_of(kind.begin(), kind.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    return std::nullopt;
  // YYYYMMDDTHHMMSSffffffZ.nnnnnnnn
  if (stamp.size() != 22 + 1 + 8 || stamp[8] != 'T' || stamp[21] != 'Z' || stamp[22] != '.')
    return std::nullopt;
  auto digits = [&](size_t from, size_t n) -> std::optional<int64_t> {
    int64_t v = 0;
    for (size_t i = from; i < from + n; ++i) {
      if (stamp[i] < '0' || stamp[i] > '9') return std::nullopt;
      v = v * 10 + (stamp[i] - '0');
    }
    return v;
  };
  for (size_t i = 23; i < stamp.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(stamp[i])) || std::isupper(stamp[i]))
      return std::nullopt;
  auto year = digits(0, 4), month = digits(4, 2), day = digits(6, 2), hour = digits(9, 2),
       minute = digits(11, 2), second = digits(13, 2), micros = digits(15, 6);
  if (!year || !month || !day || !hour || !minute || !second || !micros) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*year) - 1900;
  tm.tm_mon = static_cast<int>(*month) - 1;
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_hour = static_cast<int>(*hour);
  tm.tm_min = static_cast<int>(*minute);
  tm.tm_sec = static_cast<int>(*second);
  int64_t unix_micros = static_cast<int64_t>(timegm(&tm)) * 1000000 + *micros;
  CatalogRecordName parsed{
      .backup_id = std::string(id), .kind = std::string(kind), .time_unix_micros = unix_micros};
  // Only the canonical spelling (no 32nd of a month normalised into the next one).
  if (CatalogRecordKey(
          parsed.backup_id, parsed.kind, unix_micros,
          static_cast<uint32_t>(std::stoul(std::string(stamp.substr(23)), nullptr, 16))) != key)
    return std::nullopt;
  return parsed;
}

std::string ManifestKey(std::string_view backup_id) {
  return fmt::format("backups/{}/manifest", backup_id);
}

std::string ManifestPartKey(std::string_view backup_id, uint32_t part) {
  return fmt::format("backups/{}/files.{:06}", backup_id, part);
}

std::string IncompleteMarkerKey(std::string_view backup_id) {
  return fmt::format("backups/{}/incomplete", backup_id);
}

bool IsIncompleteMarkerKey(std::string_view key) {
  auto dir = BackupDirFromKey(key);
  return dir && key == IncompleteMarkerKey(*dir);
}

std::optional<std::string> WalKey(std::string_view name) {
  auto kind = pg::ClassifyWalFileName(name);
  if (kind == pg::WalFileKind::kInvalid) return std::nullopt;
  return fmt::format("wal/{}/{}", name.substr(0, 8), name);
}

std::optional<std::string> WalNameFromKey(std::string_view key) {
  size_t slash = key.rfind('/');
  if (!key.starts_with(kWalPrefix) || slash == std::string_view::npos) return std::nullopt;
  std::string_view name = key.substr(slash + 1);
  if (WalKey(name).value_or("") != key) return std::nullopt;
  return std::string(name);
}

std::optional<std::string> WalTimelinePrefix(std::string_view name) {
  if (pg::ClassifyWalFileName(name) == pg::WalFileKind::kInvalid) return std::nullopt;
  return fmt::format("wal/{}/", name.substr(0, 8));
}

std::string StreamPartialKey(std::string_view segment_name, uint64_t length) {
  return fmt::format("{}{:08X}", StreamPartialPrefix(segment_name), length);
}

std::string StreamPartialPrefix(std::string_view segment_name) {
  return fmt::format("stream/{}/{}.", segment_name.substr(0, 8), segment_name);
}

std::optional<StreamPartialName> ParseStreamPartialKey(std::string_view key) {
  // stream/TTTTTTTT/<24 hex>.<8 hex>
  constexpr size_t kSize = 7 + 9 + 24 + 1 + 8;
  if (key.size() != kSize || !key.starts_with(kStreamPrefix)) return std::nullopt;
  std::string_view segment = key.substr(16, 24), length = key.substr(41);
  if (pg::ClassifyWalFileName(segment) != pg::WalFileKind::kSegment) return std::nullopt;
  uint64_t n = 0;
  for (char c : length) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return std::nullopt;
    n = n * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'A' + 10);
  }
  if (StreamPartialKey(segment, n) != key) return std::nullopt;
  return StreamPartialName{std::string(segment), n};
}

std::optional<std::string> BackupIdFromManifestKey(std::string_view key) {
  if (!key.starts_with(kBackupsPrefix) || !key.ends_with("/manifest")) return std::nullopt;
  std::string_view id = key.substr(kBackupsPrefix.size());
  id = id.substr(0, id.size() - std::string_view("/manifest").size());
  if (!IsValidBackupId(id)) return std::nullopt;
  return std::string(id);
}

std::optional<ManifestObjectName> ParseManifestObjectKey(std::string_view key) {
  auto dir = BackupDirFromKey(key);
  // "backups/<id>" alone (an object, not a directory) names a backup directory too.
  if (!dir || !IsValidBackupId(*dir) || !key.starts_with(BackupPrefix(*dir))) return std::nullopt;
  std::string_view leaf = key.substr(BackupPrefix(*dir).size());
  if (leaf == "manifest") return ManifestObjectName{.backup_id = *dir};
  constexpr std::string_view kPart = "files.";
  if (!leaf.starts_with(kPart) || leaf.size() > kPart.size() + 10) return std::nullopt;
  uint64_t part = 0;
  for (char c : leaf.substr(kPart.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    part = part * 10 + static_cast<uint64_t>(c - '0');
  }
  if (part > UINT32_MAX || ManifestPartKey(*dir, static_cast<uint32_t>(part)) != key)
    return std::nullopt;
  return ManifestObjectName{.backup_id = *dir, .part = static_cast<uint32_t>(part)};
}

std::optional<std::string> BackupDirFromKey(std::string_view key) {
  if (!key.starts_with(kBackupsPrefix)) return std::nullopt;
  std::string_view rest = key.substr(kBackupsPrefix.size());
  std::string_view dir = rest.substr(0, rest.find('/'));
  if (dir.empty()) return std::nullopt;
  return std::string(dir);
}

ObjectKind ClassifyKey(std::string_view key) {
  if (key == kConfigKey) return ObjectKind::kConfig;
  if (key == kClusterKey) return ObjectKind::kCluster;
  if (key.starts_with(kKeysPrefix)) return ObjectKind::kKey;
  if (key.starts_with(kPacksPrefix))
    return key.find(".moved.") != std::string_view::npos ? ObjectKind::kRedirect
                                                         : ObjectKind::kPack;
  if (key.starts_with(kWalPrefix)) return ObjectKind::kWal;
  if (key.starts_with(kBackupsPrefix))
    return key.ends_with("/manifest") ? ObjectKind::kManifest : ObjectKind::kBackup;
  if (key.starts_with(kLocksPrefix)) return ObjectKind::kLock;
  if (key.starts_with(kCatalogPrefix)) return ObjectKind::kCatalog;
  if (key.starts_with(kGcPrefix)) return ObjectKind::kGc;
  if (key.starts_with(kStreamPrefix)) return ObjectKind::kStream;
  if (key.starts_with(kProbePrefix)) return ObjectKind::kProbe;
  return ObjectKind::kOther;
}

bool IsValidBackupId(std::string_view id) {
  // YYYYMMDD-HHMMSS followed by 'F' (full); later kinds may add letters.
  if (id.size() != 16 || id[8] != '-') return false;
  for (size_t char_idx = 0; char_idx < 15; ++char_idx)
    if (char_idx != 8 && (id[char_idx] < '0' || id[char_idx] > '9')) return false;
  return id[15] >= 'A' && id[15] <= 'Z';
}

}  // namespace pgvault::repo

namespace pgvault::repo {

std::string BackupIdAt(int64_t unix_seconds) { return FormatCompact(unix_seconds * 1000000) + "F"; }

std::optional<int64_t> BackupIdTime(std::string_view id) {
  if (!IsValidBackupId(id)) return std::nullopt;
  auto number = [&](size_t pos, size_t len) {
    int value = 0;
    for (size_t char_idx = pos; char_idx < pos + len; ++char_idx)
      value = value * 10 + (id[char_idx] - '0');
    return value;
  };
  std::tm tm{};
  tm.tm_year = number(0, 4) - 1900;
  tm.tm_mon = number(4, 2) - 1;
  tm.tm_mday = number(6, 2);
  tm.tm_hour = number(9, 2);
  tm.tm_min = number(11, 2);
  tm.tm_sec = number(13, 2);
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace pgvault::repo

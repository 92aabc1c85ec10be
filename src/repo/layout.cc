#include "repo/layout.h"

#include <fmt/format.h>

#include <ctime>

#include "common/time.h"
#include "pg/wal_names.h"

namespace pgvault::repo {

std::string KeyFileKey(std::string_view key_id) { return fmt::format("keys/{}", key_id); }

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

std::string BackupPrefix(std::string_view backup_id) {
  return fmt::format("backups/{}/", backup_id);
}

std::string ManifestKey(std::string_view backup_id) {
  return fmt::format("backups/{}/manifest", backup_id);
}

std::string ManifestPartKey(std::string_view backup_id, uint32_t part) {
  return fmt::format("backups/{}/files.{:06}", backup_id, part);
}

std::optional<std::string> WalKey(std::string_view name) {
  auto kind = pg::ClassifyWalFileName(name);
  if (kind == pg::WalFileKind::kInvalid) return std::nullopt;
  return fmt::format("wal/{}/{}", name.substr(0, 8), name);
}

std::optional<std::string> BackupIdFromManifestKey(std::string_view key) {
  if (!key.starts_with(kBackupsPrefix) || !key.ends_with("/manifest")) return std::nullopt;
  std::string_view id = key.substr(kBackupsPrefix.size());
  id = id.substr(0, id.size() - std::string_view("/manifest").size());
  if (!IsValidBackupId(id)) return std::nullopt;
  return std::string(id);
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

// WAL file names and LSNs (pg/wal_names.h) and repository object names (repo/layout.h): every
// parser on arbitrary text, and each accepted name built back to the same text, as layout.h
// promises ("nullopt unless key is exactly what ... builds").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pg/wal_names.h"
#include "repo/layout.h"

using namespace pgvault;

namespace {

void WalNames(std::string_view text) {
  pg::WalFileKind kind = pg::ClassifyWalFileName(text);
  if (kind != pg::WalFileKind::kInvalid) {
    uint32_t timeline = pg::TimelineOfWalFile(text);
    (void)timeline;
  }
  if (auto lsn = pg::ParseLsn(text)) FUZZ_CHECK(pg::ParseLsn(pg::FormatLsn(*lsn)) == lsn);
  for (uint64_t segment_size : {uint64_t{1} << 20, uint64_t{16} << 20, uint64_t{1} << 30}) {
    uint32_t timeline = 0;
    uint64_t segno = 0;
    if (pg::ParseSegmentName(text, timeline, segno, segment_size)) {
      std::string name = pg::SegmentName(timeline, segno * segment_size, segment_size);
      (void)name;
    }
  }
}

void RepoNames(std::string_view key) {
  using namespace repo;
  if (auto id = BackupIdFromLockKey(key)) FUZZ_CHECK(BackupLockKey(*id) == key);
  if (auto pack = PackIdFromKey(key)) FUZZ_CHECK(PackKey(*pack) == key);
  if (auto name = WalNameFromKey(key)) FUZZ_CHECK(WalKey(*name) == key);
  if (auto key_of = WalKey(key)) FUZZ_CHECK(WalNameFromKey(*key_of) == key);
  if (auto prefix = WalTimelinePrefix(key)) FUZZ_CHECK(prefix->starts_with(kWalPrefix));
  if (auto part = ParseStreamPartialKey(key))
    FUZZ_CHECK(StreamPartialKey(part->segment, part->length) == key);
  if (auto id = BackupIdFromManifestKey(key)) FUZZ_CHECK(ManifestKey(*id) == key);
  if (auto name = ParseManifestObjectKey(key))
    FUZZ_CHECK((name->part ? ManifestPartKey(name->backup_id, *name->part)
                           : ManifestKey(name->backup_id)) == key);
  if (auto dir = BackupDirFromKey(key)) FUZZ_CHECK(!dir->empty());
  if (auto record = ParseCatalogRecordKey(key)) FUZZ_CHECK(IsValidBackupId(record->backup_id));
  if (auto time = GcMarkTime(key)) FUZZ_CHECK(*time >= 0);
  ObjectKind kind = ClassifyKey(key);
  (void)kind;
  if (IsValidBackupId(key)) FUZZ_CHECK(BackupIdTime(key).has_value());
  if (auto time = BackupIdTime(key)) FUZZ_CHECK(IsValidBackupId(key));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  WalNames(text);
  RepoNames(text);
  return 0;
}

// A manifest part's records, decoded as ManifestReader does: the input is a part's plaintext
// (u32 record count | records), stored as part 0 of a backup whose header is valid, then read
// through ManifestReader and checked with CheckEntrySafe as restore does.
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "storage/mem/mem_storage.h"

namespace {

using namespace pgvault;

constexpr std::string_view kBackupId = "20261202-020546F";

repo::ManifestHeader ValidHeader() {
  repo::ManifestHeader h;
  h.backup_id = kBackupId;
  h.pgvault_version = "0.1.0";
  h.pg_version = 150004;
  h.system_identifier = "7443211018388406313";
  h.timeline = 1;
  h.start_wal = "000000010000000000000002";
  h.stop_wal = "000000010000000000000002";
  h.wal_segment_size = 16 << 20;
  h.block_size = 128 << 10;
  h.compression = "none";
  h.cipher = "none";
  h.pgdata = "/var/lib/postgresql/15/main";
  h.tablespaces.push_back({.oid = "16400", .location = "/srv/ts"});
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pipeline::Codec codec(std::nullopt, pipeline::Compression::kNone, 0);
  storage::MemStorage storage;
  {
    // An empty writer writes an empty part 0 and the header; part 0 is then replaced.
    repo::ManifestWriter writer(storage, codec, std::string(kBackupId));
    Status s = writer.Finish(ValidHeader());
    FUZZ_CHECK(s.ok());
  }
  Bytes sealed = codec.Encode(ByteView(data, size),
                              AsBytes(fmt::format("pgvault-manifest-part:{}:0", kBackupId)));
  *storage.Mutable(repo::ManifestPartKey(kBackupId, 0)) = sealed;
  auto reader = repo::ManifestReader::Open(storage, codec, kBackupId);
  FUZZ_CHECK(reader.ok());
  repo::FileEntry entry;
  while ((*reader)->Next(entry)) {
    Status safe = repo::CheckEntrySafe(entry, (*reader)->header());
    (void)safe;
  }
  FUZZ_CHECK((*reader)->status().ok() || (*reader)->status().code() == Code::kCorruption);
  return 0;
}

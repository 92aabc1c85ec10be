// The manifest header as ReadManifestHeader reads it once the blob is decoded: JSON text, then
// the field mapping. Anything may come back but kCorruption; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_check.h"
#include "repo/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  auto header = pgvault::repo::ParseManifestHeader("20261202-020546F", j);
  if (!header.ok()) {
    FUZZ_CHECK(header.status().code() == pgvault::Code::kCorruption);
    return 0;
  }
  // What was accepted maps back to JSON and parses to the same header.
  auto again = pgvault::repo::ParseManifestHeader("20261202-020546F",
                                                  pgvault::repo::ManifestHeaderToJson(*header));
  FUZZ_CHECK(again.ok());
  return 0;
}

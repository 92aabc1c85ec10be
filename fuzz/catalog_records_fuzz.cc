// Catalog records (verify and drill results) as info reads them: JSON text, then the field
// mapping. kCorruption or a record; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "repo/catalog_records.h"

using namespace pgvault;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded()) {
    auto verify = repo::ParseVerifyRecord("20261202-020546F", j);
    FUZZ_CHECK(verify.ok() || verify.status().code() == Code::kCorruption);
    if (verify.ok())
      FUZZ_CHECK(repo::ParseVerifyRecord("x", repo::VerifyRecordToJson(*verify)).ok());
    auto drill = repo::ParseDrillRecord("20261202-020546F", j);
    FUZZ_CHECK(drill.ok() || drill.status().code() == Code::kCorruption);
    if (drill.ok()) FUZZ_CHECK(repo::ParseDrillRecord("x", repo::DrillRecordToJson(*drill)).ok());
  }
  repo::RecordProblem problem = repo::ProblemFromLine(std::string(text));
  (void)problem;
  return 0;
}

// A WAL file's first page header (ParseWalSegmentHeader) and the check of the segment against
// its name (CheckSegmentIdentity), as archive-push does before storing a segment.
// Input: the file's first bytes; the file is padded with zeros to the segment size its header
// states when that is a valid size up to 16 MiB, to 1 MiB otherwise. The name checked against
// is the 24 characters after the first 64 bytes when present, the real segment name otherwise.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.h"
#include "pg/wal_header.h"

using namespace pgvault;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Bytes file(16 << 20);
  size_t head = std::min<size_t>(size, 64);
  uint32_t stated = 0;
  if (head >= 36) std::memcpy(&stated, data + 32, 4);  // xlp_seg_size
  size_t file_size = 1 << 20;
  if (stated >= (1u << 20) && stated <= (16u << 20) && (stated & (stated - 1)) == 0)
    file_size = stated;
  std::memcpy(file.data(), data, head);
  std::string name = "000000010000000000000001";
  if (size >= 64 + 24) name.assign(reinterpret_cast<const char*>(data + 64), 24);
  auto header = pg::ParseWalSegmentHeader(ByteView(file).first(file_size));
  std::memset(file.data(), 0, head);
  if (!header.ok()) {
    FUZZ_CHECK(header.status().code() == Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(header->segment_size == file_size);
  Status s = pg::CheckSegmentIdentity("'fuzz'", name, *header, 0);
  FUZZ_CHECK(s.ok() || s.code() == Code::kInvalidArgument);
  s = pg::CheckSegmentIdentity("'fuzz'", name, *header, 16 << 20);
  FUZZ_CHECK(s.ok() || s.code() == Code::kInvalidArgument);
  return 0;
}

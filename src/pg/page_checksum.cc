#include "pg/page_checksum.h"

#include <array>
#include <bit>
#include <cstring>

namespace pgvault::pg {
namespace {

static_assert(std::endian::native == std::endian::little,
              "page headers and checksum lanes are read as little-endian words");

constexpr size_t kLanes = 32;
constexpr size_t kRowBytes = kLanes * sizeof(uint32_t);
constexpr uint32_t kFnvPrime = 16777619;
// Each lane starts from its own constant (PostgreSQL's checksumBaseOffsets).
constexpr std::array<uint32_t, kLanes> kLaneSeeds = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};
// pd_checksum is the low half of the third word of the first row.
constexpr size_t kChecksumWord = 2;
constexpr uint32_t kChecksumMask = 0xFFFF0000u;

inline uint32_t Mix(uint32_t lane, uint32_t word) {
  uint32_t x = lane ^ word;
  return (x * kFnvPrime) ^ (x >> 17);
}

// All lanes over one row; a plain loop over a fixed-size array that -O2 vectorises.
inline void MixRow(std::array<uint32_t, kLanes>& lanes, const std::array<uint32_t, kLanes>& row) {
  for (size_t lane_idx = 0; lane_idx < kLanes; ++lane_idx)
    lanes[lane_idx] = Mix(lanes[lane_idx], row[lane_idx]);
}

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

uint16_t PageChecksum(const uint8_t* page, size_t page_size, uint32_t block_number) {
  std::array<uint32_t, kLanes> lanes = kLaneSeeds;
  std::array<uint32_t, kLanes> row;
  const size_t rows = page_size / kRowBytes;
  std::memcpy(row.data(), page, kRowBytes);
  row[kChecksumWord] &= kChecksumMask;
  MixRow(lanes, row);
  for (size_t row_idx = 1; row_idx < rows; ++row_idx) {
    std::memcpy(row.data(), page + row_idx * kRowBytes, kRowBytes);
    MixRow(lanes, row);
  }
  row.fill(0);
  MixRow(lanes, row);
  MixRow(lanes, row);
  uint32_t folded = 0;
  for (uint32_t lane : lanes) folded ^= lane;
  folded ^= block_number;
  return static_cast<uint16_t>(folded % 65535 + 1);
}

uint16_t PageStoredChecksum(const uint8_t* page) { return Load16(page + 8); }
uint64_t PageLsn(const uint8_t* page) { return (uint64_t{Load32(page)} << 32) | Load32(page + 4); }
uint16_t PageUpper(const uint8_t* page) { return Load16(page + 14); }

PageCheck CheckPage(const uint8_t* page, size_t page_size, uint32_t block_number,
                    uint64_t start_lsn) {
  PageCheck out;
  // PostgreSQL's base backup skips such pages too: pd_upper is 0 only on a page extended but not
  // yet initialised (a damaged header that zeroes it goes unnoticed, as in PostgreSQL 15).
  if (PageUpper(page) == 0) {
    out.verdict = PageVerdict::kNew;
    return out;
  }
  if (start_lsn != 0 && PageLsn(page) >= start_lsn) {
    out.verdict = PageVerdict::kTooNew;
    return out;
  }
  out.stored = PageStoredChecksum(page);
  out.computed = PageChecksum(page, page_size, block_number);
  if (out.stored != out.computed) out.verdict = PageVerdict::kMismatch;
  return out;
}

bool HasPageChecksums(std::string_view path) {
  if (!path.starts_with("base/") && !path.starts_with("global/") && !path.starts_with("pg_tblspc/"))
    return false;
  size_t slash = path.rfind('/');
  std::string_view name = path.substr(slash + 1);
  if (name == "pg_control" || name == "pg_filenode.map" || name == "PG_VERSION") return false;
  if (name.starts_with("pg_internal.init")) return false;
  // Temporary files and directories (pgsql_tmp*) hold no checksummed pages.
  if (path.find("pgsql_tmp") != std::string_view::npos) return false;
  return true;
}

uint32_t RelationSegment(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') + 1);
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return 0;
  uint32_t segment = 0;
  for (char c : name.substr(dot + 1)) {
    if (c < '0' || c > '9') return 0;
    segment = segment * 10 + static_cast<uint32_t>(c - '0');
  }
  return segment;
}

}  // namespace pgvault::pg

#include "pg/wal_names.h"

#include <fmt/format.h>

namespace pgvault::pg {
namespace {

bool IsUpperHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  return !s.empty();
}

uint64_t Hex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = v * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'A' + 10);
  return v;
}

}  // namespace

WalFileKind ClassifyWalFileName(std::string_view name) {
  if (name.size() == 24 && IsUpperHex(name)) return WalFileKind::kSegment;
  if (name.size() == 32 && IsUpperHex(name.substr(0, 24)) && name.substr(24) == ".partial")
    return WalFileKind::kPartial;
  if (name.size() == 16 && IsUpperHex(name.substr(0, 8)) && name.substr(8) == ".history")
    return WalFileKind::kHistory;
  if (name.size() == 40 && IsUpperHex(name.substr(0, 24)) && name[24] == '.' &&
      IsUpperHex(name.substr(25, 8)) && name.substr(33) == ".backup")
    return WalFileKind::kBackupHistory;
  return WalFileKind::kInvalid;
}

uint32_t TimelineOfWalFile(std::string_view name) {
  return static_cast<uint32_t>(Hex(name.substr(0, 8)));
}

std::optional<uint64_t> ParseLsn(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8)
    return std::nullopt;
  std::string hi(text.substr(0, slash)), lo(text.substr(slash + 1));
  for (auto* part : {&hi, &lo})
    for (char& c : *part) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!IsUpperHex(hi) || !IsUpperHex(lo)) return std::nullopt;
  return (Hex(hi) << 32) | Hex(lo);
}

std::string FormatLsn(uint64_t lsn) {
  return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xffffffff);
}

std::string SegmentName(uint32_t timeline, uint64_t lsn, uint64_t segment_size) {
  uint64_t segno = lsn / segment_size;
  uint64_t per_xlogid = 0x100000000ull / segment_size;
  return fmt::format("{:08X}{:08X}{:08X}", timeline, segno / per_xlogid, segno % per_xlogid);
}

bool ParseSegmentName(std::string_view name, uint32_t& timeline, uint64_t& segno,
                      uint64_t segment_size) {
  if (name.size() < 24 || !IsUpperHex(name.substr(0, 24))) return false;
  timeline = static_cast<uint32_t>(Hex(name.substr(0, 8)));
  uint64_t per_xlogid = 0x100000000ull / segment_size;
  segno = Hex(name.substr(8, 8)) * per_xlogid + Hex(name.substr(16, 8));
  return true;
}

}  // namespace pgvault::pg

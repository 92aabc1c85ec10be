#include "pg/wal_header.h"

#include <fmt/format.h>

#include <string>

#include "pg/wal_names.h"

namespace pgvault::pg {
namespace {

// XLOG_PAGE_MAGIC per major version (it changes when the WAL format does).
int MajorForMagic(uint16_t magic) {
  switch (magic) {
    case 0xD10D:
      return 14;
    case 0xD110:
      return 15;
    case 0xD113:
      return 16;
    case 0xD116:
      return 17;
    case 0xD118:
      return 18;
    default:
      return 0;
  }
}

constexpr uint16_t kXlpLongHeader = 0x0002;

}  // namespace

Result<WalSegmentHeader> ParseWalSegmentHeader(ByteView data) {
  size_t size = data.size();
  if (size < (1u << 20) || size > (1u << 30) || (size & (size - 1)) != 0)
    return Status::InvalidArgument(fmt::format(
        "size {} is not a WAL segment size (a power of two from 1 MiB to 1 GiB)", size));
  Decoder d(data);
  uint16_t magic = 0, info = 0;
  uint8_t lo, hi;
  d.U8(lo);
  d.U8(hi);
  magic = static_cast<uint16_t>(lo | hi << 8);
  d.U8(lo);
  d.U8(hi);
  info = static_cast<uint16_t>(lo | hi << 8);
  WalSegmentHeader h;
  uint32_t rem_len, pad;
  d.U32(h.timeline);
  d.U64(h.page_address);
  d.U32(rem_len);
  d.U32(pad);
  d.U64(h.system_identifier);
  d.U32(h.segment_size);
  h.pg_version_major = MajorForMagic(magic);
  if (h.pg_version_major == 0)
    return Status::InvalidArgument(fmt::format("no WAL page header (magic 0x{:04X})", magic));
  if (!(info & kXlpLongHeader))
    return Status::InvalidArgument("first page lacks the long WAL page header");
  if (h.segment_size != size)
    return Status::InvalidArgument(
        fmt::format("header says segment size {}, file has {} bytes", h.segment_size, size));
  return h;
}

Status CheckSegmentIdentity(std::string_view what, std::string_view name,
                            const WalSegmentHeader& header, uint64_t expected_segment_size) {
  uint64_t size = header.segment_size;
  if (expected_segment_size != 0 && size != expected_segment_size)
    return std::move(Status::InvalidArgument(
                         fmt::format("{} has WAL segment size {} but the cluster's is {}: it is "
                                     "not a segment of this cluster",
                                     what, size, expected_segment_size)))
        .WithHint("archive a cluster with another wal_segment_size into a repository of its own");
  std::string segment(name.substr(0, 24));
  uint32_t timeline = 0;
  uint64_t segno = 0;
  if (size == 0 || !ParseSegmentName(segment, timeline, segno, size) ||
      SegmentName(timeline, segno * size, size) != segment)
    return Status::InvalidArgument(
        fmt::format("'{}' is not a segment name for {}-byte segments (its last 8 digits must be "
                    "below {:08X})",
                    name, size, size == 0 ? 0 : 0x100000000ull / size));
  uint64_t expected = segno * size;
  if (header.page_address == expected) return Status::Ok();
  std::string found = FormatLsn(header.page_address);
  if (header.page_address % size == 0)
    found +=
        fmt::format(" (segment '{}')", SegmentName(header.timeline, header.page_address, size));
  return std::move(Status::InvalidArgument(
                       fmt::format("{} is not WAL segment '{}': its first page address is {}, "
                                   "expected {}",
                                   what, name, found, FormatLsn(expected))))
      .WithHint(
          "it is another segment copied or renamed to this name, or a recycled segment "
          "PostgreSQL has not written yet; archive_command must pass %p, the file PostgreSQL "
          "names, unchanged");
}

}  // namespace pgvault::pg

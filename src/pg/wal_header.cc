#include "pg/wal_header.h"

#include <fmt/format.h>

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
  return Status::Ok();
}

}  // namespace pgvault::pg

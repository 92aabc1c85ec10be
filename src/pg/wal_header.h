// Checks that a file is a PostgreSQL WAL segment by its first page header
// (XLogLongPageHeaderData in PostgreSQL's src/include/access/xlog_internal.h).
#pragma once

#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault::pg {

struct WalSegmentHeader {
  int pg_version_major = 0;
  uint32_t timeline = 0;
  uint64_t page_address = 0;
  uint64_t system_identifier = 0;
  uint32_t segment_size = 0;
};

// kInvalidArgument, naming what is wrong, when data is not a WAL segment of its stated size.
Result<WalSegmentHeader> ParseWalSegmentHeader(ByteView data);

}  // namespace pgvault::pg

// Checks that a file is a PostgreSQL WAL segment by its first page header
// (XLogLongPageHeaderData in PostgreSQL's src/include/access/xlog_internal.h).
#pragma once

#include <cstdint>
#include <string_view>

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

// kInvalidArgument unless header is that of segment `name` (a segment or .partial name): the first
// page's address (xlp_pageaddr) must be the segment's start LSN, computed from the name and the
// header's segment size, and that size must be expected_segment_size when it is known (non-zero).
// A file copied or renamed to another segment's name, or a recycled segment that PostgreSQL has
// not written yet, fails. `what` begins the message, naming the file (e.g. "'pg_wal/...'").
Status CheckSegmentIdentity(std::string_view what, std::string_view name,
                            const WalSegmentHeader& header, uint64_t expected_segment_size = 0);

}  // namespace pgvault::pg

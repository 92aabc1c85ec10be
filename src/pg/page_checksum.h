// PostgreSQL's data page checksum (pg_checksum_page in PostgreSQL's
// src/include/storage/checksum_impl.h) and the page header fields a backup needs to decide whether
// a page can be checked. Written here from the algorithm's description: no Debian package ships
// it as a library (PostgreSQL compiles it into the server and pg_checksums only).
//
// The page is read as rows of 32 little uint32 lanes; each lane is an FNV-1a-like hash
// (x ^= word; x = x * 16777619 ^ (x >> 17)) started from its own constant. Two more rounds of
// zero words mix the last row in, the lanes are XORed together, the block number (the page's
// number within the relation, across 1 GiB segment files) is XORed in, and the result is
// reduced to 1..65535, so that 0 never is a checksum. pd_checksum counts as zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgvault::pg {

// PostgreSQL's page size (BLCKSZ) unless built otherwise; RELSEG_SIZE pages make one segment.
constexpr uint32_t kDefaultPageSize = 8192;
constexpr uint64_t kDefaultSegmentBytes = uint64_t{1} << 30;

// The checksum PostgreSQL would store in the page: page_size bytes (a multiple of 128, as
// BLCKSZ always is) at page, block_number as above. Allocates nothing; page need not be aligned.
uint16_t PageChecksum(const uint8_t* page, size_t page_size, uint32_t block_number);

// Header fields (PageHeaderData, stored in the machine's byte order: little-endian here).
uint16_t PageStoredChecksum(const uint8_t* page);  // pd_checksum, bytes 8-9
uint64_t PageLsn(const uint8_t* page);             // pd_lsn, bytes 0-7 as two uint32 halves
uint16_t PageUpper(const uint8_t* page);           // pd_upper, bytes 14-15; 0 on a new page

// What checking one page found.
enum class PageVerdict : uint8_t {
  kOk,        // the stored checksum matches
  kNew,       // pd_upper == 0: a new page PostgreSQL has not initialised; not checked
  kTooNew,    // its LSN is at or past the backup's start: WAL replay rewrites it; not checked
  kMismatch,  // the stored checksum differs from the computed one
};
struct PageCheck {
  PageVerdict verdict = PageVerdict::kOk;
  uint16_t stored = 0;
  uint16_t computed = 0;
};
// Checks one page as pg_basebackup does. start_lsn 0 checks pages of any LSN (verify).
PageCheck CheckPage(const uint8_t* page, size_t page_size, uint32_t block_number,
                    uint64_t start_lsn);

// Whether PostgreSQL keeps page checksums in the file at path (relative to the data directory,
// '/'-separated): files under base/, global/ and pg_tblspc/ except the few that are not made of
// pages (pg_control, pg_filenode.map, PG_VERSION, pg_internal.init*, temporary files), as
// PostgreSQL's own base backup decides. The fsm and vm forks have checksums too.
bool HasPageChecksums(std::string_view path);
// The segment number of a relation file ("16384.3" -> 3, "16384" or "16384_fsm" -> 0).
uint32_t RelationSegment(std::string_view path);

}  // namespace pgvault::pg

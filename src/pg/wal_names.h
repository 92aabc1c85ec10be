// WAL file names, LSNs and timelines, as PostgreSQL spells them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault::pg {

// PostgreSQL's default wal_segment_size. Not a fallback for a backup's WAL: every backup's header
// records its cluster's size. Used only to name archived WAL when no backup says which size.
constexpr uint64_t kDefaultWalSegmentSize = 16 << 20;

enum class WalFileKind { kInvalid, kSegment, kPartial, kHistory, kBackupHistory };

// 000000010000000000000003 -> kSegment, ...03.partial -> kPartial, 00000002.history -> kHistory,
// 000000010000000000000003.00000028.backup -> kBackupHistory.
WalFileKind ClassifyWalFileName(std::string_view name);
uint32_t TimelineOfWalFile(std::string_view name);  // requires a valid name

// "16/B374D848" <-> 0x16B374D848
std::optional<uint64_t> ParseLsn(std::string_view text);
std::string FormatLsn(uint64_t lsn);
// Segment file name that holds the byte at lsn.
std::string SegmentName(uint32_t timeline, uint64_t lsn, uint64_t segment_size);
// Parses a 24-hex segment name (timeline, segment number) for a given segment size.
bool ParseSegmentName(std::string_view name, uint32_t& timeline, uint64_t& segno,
                      uint64_t segment_size);

}  // namespace pgvault::pg

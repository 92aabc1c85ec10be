// The unit of work that backup, restore and verify cut files into.
#pragma once

#include <cstdint>

namespace pgvault {

// 8 MiB: one job's share of a large file (backup and restore ranges), one slice of reading
// (backup's reads, BlockReader's coalesced pack reads) and a small-file batch's size limit.
// Large enough that per-job costs (a queue round trip, a ranged GET of a pack, a syscall) are
// small against the bytes moved, and that a range spans 1024 default 8 KiB blocks; small enough
// that a 1 GiB relation segment splits into 128 jobs all workers share, and that a worker's
// buffers (a few units) stay in tens of MiB whatever --jobs is. Changing it changes no format:
// the manifest lists blocks, not units (docs/benchmarks.md measured the choice).
inline constexpr uint64_t kWorkUnitBytes = 8ull << 20;

}  // namespace pgvault

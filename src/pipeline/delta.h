// Delta compression of a changed block against an earlier version of it: a zstd frame made with
// the earlier version as its prefix ("patch-from"). A pgbench page that saw a few updates shrinks
// to a fraction of its standalone compressed size (docs/design.md, "Delta blocks").
// The frame then goes through Codec like any block, so encryption and framing are unchanged.
#pragma once

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault::pipeline {

// Appends the delta frame of input against base to out. kInternal only when zstd fails (out of
// memory); out is then unchanged.
Status DeltaEncode(ByteView base, ByteView input, int level, Bytes& out);
// Rebuilds the block (its size is recorded in the frame). kCorruption on any mismatch.
Status DeltaDecode(ByteView base, ByteView frame, Bytes& out);

}  // namespace pgvault::pipeline

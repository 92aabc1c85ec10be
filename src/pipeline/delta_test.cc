#include "pipeline/delta.h"

#include <gtest/gtest.h>

#include "pipeline/compress.h"
#include "pipeline/crypto.h"

namespace pgvault::pipeline {
namespace {

TEST(DeltaTest, ASmallChangeCostsLittleAndRoundTrips) {
  Bytes base = RandomBytes(65536);  // incompressible on its own
  Bytes changed = base;
  for (size_t byte_idx = 1000; byte_idx < 1100; ++byte_idx) changed[byte_idx] ^= 0x5a;
  Bytes frame;
  ASSERT_TRUE(DeltaEncode(base, changed, 3, frame).ok());
  EXPECT_LT(frame.size(), 400u);
  Bytes back;
  ASSERT_TRUE(DeltaDecode(base, frame, back).ok());
  EXPECT_EQ(back, changed);
}

TEST(DeltaTest, TheWrongBaseIsCorruptionNotGarbage) {
  Bytes base = RandomBytes(65536), other = RandomBytes(65536);
  Bytes changed = base;
  changed[10] ^= 1;
  Bytes frame;
  ASSERT_TRUE(DeltaEncode(base, changed, 3, frame).ok());
  Bytes back;
  Status s = DeltaDecode(other, frame, back);
  // zstd has no checksum of the prefix: a wrong base may decode, but never to the right bytes;
  // callers verify the block id afterwards.
  if (s.ok()) {
    EXPECT_NE(back, changed);
  } else {
    EXPECT_EQ(s.code(), Code::kCorruption);
  }
  frame.resize(frame.size() / 2);
  EXPECT_EQ(DeltaDecode(base, frame, back).code(), Code::kCorruption);
}

}  // namespace
}  // namespace pgvault::pipeline

#include "common/large_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pgvault {
namespace {

TEST(LargeBufferTest, HoldsWhatIsWrittenAndGrowsOnDemand) {
  LargeBuffer buffer;
  EXPECT_TRUE(buffer.span().empty());
  ASSERT_TRUE(buffer.Resize(16 << 20).ok());
  ASSERT_EQ(buffer.span().size(), size_t{16 << 20});
  // Huge-page aligned, so that the kernel can back it with 2 MiB pages.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.span().data()) % (2 << 20), 0u);
  std::fill(buffer.span().begin(), buffer.span().end(), uint8_t{0x5a});
  ASSERT_TRUE(buffer.Resize(100).ok());  // smaller: the same memory
  EXPECT_EQ(buffer.span().size(), 100u);
  EXPECT_EQ(buffer.span()[99], 0x5a);
  ASSERT_TRUE(buffer.Resize((64 << 20) + 1).ok());  // larger: new memory, every byte writable
  std::fill(buffer.span().begin(), buffer.span().end(), uint8_t{1});
  EXPECT_EQ(buffer.span().back(), 1);
}

}  // namespace
}  // namespace pgvault

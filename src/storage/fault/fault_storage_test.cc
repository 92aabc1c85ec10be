// FaultStorage: each kind of injected fault does what its contract says.
#include "storage/fault/fault_storage.h"

#include <gtest/gtest.h>

#include "storage/mem/mem_storage.h"

namespace pgvault::storage {
namespace {

TEST(FaultStorageTest, FailsTheNthMatchingCallOnce) {
  MemStorage mem;
  FaultStorage faulty(mem);
  faulty.FailNth(StorageOp::kPut, 2, FaultStorage::NoSpace(), "packs/");
  EXPECT_TRUE(faulty.Put("config", AsBytes("a")).ok());  // not under the prefix: not counted
  EXPECT_TRUE(faulty.Put("packs/1", AsBytes("a")).ok());
  Status s = faulty.Put("packs/2", AsBytes("b"));
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "put 'packs/2': no space left on device (simulated ENOSPC)");
  EXPECT_TRUE(mem.Get("packs/2").status().IsNotFound());  // the failed put stored nothing
  EXPECT_TRUE(faulty.Put("packs/3", AsBytes("c")).ok());  // fired once
  EXPECT_EQ(faulty.calls(StorageOp::kPut), 4u);
}

TEST(FaultStorageTest, RepeatingRuleKeepsFailing) {
  MemStorage mem;
  FaultStorage faulty(mem);
  faulty.FailNth(StorageOp::kGet, 1, Status::Unavailable("503 SlowDown"), "", true);
  ASSERT_TRUE(mem.Put("k", AsBytes("v")).ok());
  for (int call_idx = 0; call_idx < 3; ++call_idx)
    EXPECT_TRUE(faulty.Get("k").status().retryable());
  faulty.Clear();
  EXPECT_EQ(AsString(*faulty.Get("k")), "v");
}

TEST(FaultStorageTest, ShortReadReturnsTheFirstBytesOnly) {
  MemStorage mem;
  FaultStorage faulty(mem);
  ASSERT_TRUE(mem.Put("k", AsBytes("0123456789")).ok());
  faulty.ShortReadNth(1, 4);
  EXPECT_EQ(AsString(*faulty.Get("k")), "0123");
  EXPECT_EQ(AsString(*faulty.Get("k")), "0123456789");
}

TEST(FaultStorageTest, CrashKeepsCompletedWritesAndFailsEverythingAfter) {
  MemStorage mem;
  FaultStorage faulty(mem);
  faulty.CrashAfterWrites(2);
  EXPECT_TRUE(faulty.Put("a", AsBytes("1")).ok());
  EXPECT_FALSE(faulty.crashed());
  EXPECT_TRUE(faulty.Delete("missing").ok());
  EXPECT_TRUE(faulty.crashed());
  EXPECT_EQ(faulty.Put("b", AsBytes("2")).code(), Code::kIo);
  EXPECT_EQ(faulty.Get("a").status().code(), Code::kIo);
  EXPECT_EQ(AsString(*mem.Get("a")), "1");
  EXPECT_TRUE(mem.Get("b").status().IsNotFound());
}

}  // namespace
}  // namespace pgvault::storage

// Storage::GetChecked, the seam repo/ reads around damage through: the default reads once,
// ReplicatedStorage passes over a replica whose bytes fail the check.
#include "storage/replicated/replicated_storage.h"

#include <gtest/gtest.h>

#include "storage/mem/mem_storage.h"

namespace pgvault::storage {
namespace {

const Bytes kGood = {'g', 'o', 'o', 'd', ' ', 'b', 'y', 't', 'e', 's'};

// The check a reader would pass: the bytes must be kGood (a block's id, a WAL object's tag).
Status MustBeGood(ByteView bytes) {
  if (std::equal(bytes.begin(), bytes.end(), kGood.begin(), kGood.end())) return Status::Ok();
  return Status::Corruption("object 'k' is damaged");
}

struct Replicas {
  MemStorage r1, r2;
  std::unique_ptr<ReplicatedStorage> storage;
  explicit Replicas(WritePolicy policy = WritePolicy::kAll) {
    std::vector<std::unique_ptr<Storage>> list;
    list.push_back(std::make_unique<BorrowedStorage>(r1));
    list.push_back(std::make_unique<BorrowedStorage>(r2));
    storage = std::make_unique<ReplicatedStorage>(std::move(list), policy);
    EXPECT_TRUE(storage->Put("k", kGood).ok());
  }
};

TEST(GetCheckedTest, DefaultReadsOnceAndReturnsTheChecksError) {
  MemStorage mem;
  ASSERT_TRUE(mem.Put("k", kGood).ok());
  auto got = mem.GetChecked("k", {}, MustBeGood);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, kGood);
  (*mem.Mutable("k"))[0] ^= 1;
  got = mem.GetChecked("k", {}, MustBeGood);
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_EQ(got.status().message(), "object 'k' is damaged");
  EXPECT_EQ(mem.GetChecked("missing", {}, MustBeGood).status().code(), Code::kNotFound);
}

TEST(GetCheckedTest, DamageInTheFirstReplicaIsReadFromTheSecond) {
  Replicas rs;
  (*rs.r1.Mutable("k"))[3] ^= 1;
  auto plain = rs.storage->Get("k");  // no check: the first replica's (damaged) bytes
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(*plain, kGood);
  auto got = rs.storage->GetChecked("k", {}, MustBeGood);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, kGood);
  // A range is checked as read: the second replica serves it too.
  auto part = rs.storage->GetChecked("k", {.offset = 2, .length = 4}, [](ByteView bytes) {
    return bytes[1] == 'd' ? Status::Ok() : Status::Corruption("range damaged");
  });
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(*part, Bytes(kGood.begin() + 2, kGood.begin() + 6));
}

TEST(GetCheckedTest, DamageInEveryReplicaIsTheChecksError) {
  Replicas rs;
  (*rs.r1.Mutable("k"))[0] ^= 1;
  (*rs.r2.Mutable("k"))[9] ^= 1;
  auto got = rs.storage->GetChecked("k", {}, MustBeGood);
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_EQ(got.status().message(), "object 'k' is damaged");
}

TEST(GetCheckedTest, DamageInOneReplicaAndMissingInTheOtherIsTheDamage) {
  Replicas rs(WritePolicy::kAny);
  (*rs.r1.Mutable("k"))[0] ^= 1;
  ASSERT_TRUE(rs.r2.Delete("k").ok());
  EXPECT_EQ(rs.storage->GetChecked("k", {}, MustBeGood).status().code(), Code::kCorruption);
  ASSERT_TRUE(rs.r1.Delete("k").ok());
  EXPECT_EQ(rs.storage->GetChecked("k", {}, MustBeGood).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace pgvault::storage

// ReplicatedStorage over two in-memory replicas wrapped in FaultStorage: what each write policy
// returns when one replica fails, read fall-over, the "down replica" memory, reading a damaged
// object around the replica that holds it, and Storage::GetChecked, the seam repo/ reads around
// damage through (the default reads once; ReplicatedStorage passes over a replica whose bytes
// fail the check).
#include "storage/replicated/replicated_storage.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "repo/block_reader.h"
#include "repo/test_repo.h"
#include "repo/wal_store.h"
#include "storage/fault/fault_storage.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::storage {
namespace {

struct Replicas {
  MemStorage mem[2];
  FaultStorage* fault[2] = {nullptr, nullptr};
  std::unique_ptr<ReplicatedStorage> rs;

  explicit Replicas(WritePolicy policy) {
    std::vector<std::unique_ptr<Storage>> list;
    for (int idx = 0; idx < 2; ++idx) {
      auto f = std::make_unique<FaultStorage>(mem[idx]);
      fault[idx] = f.get();
      list.push_back(std::move(f));
    }
    rs = std::make_unique<ReplicatedStorage>(std::move(list), policy);
  }
};

bool Has(MemStorage& mem, std::string_view key) { return mem.Get(key).ok(); }

TEST(ReplicatedStorageTest, WritesGoToEveryReplica) {
  for (WritePolicy policy : {WritePolicy::kAll, WritePolicy::kAny}) {
    Replicas r(policy);
    ASSERT_TRUE(r.rs->Put("wal/k", AsBytes("v")).ok());
    EXPECT_EQ(AsString(*r.mem[0].Get("wal/k")), "v");
    EXPECT_EQ(AsString(*r.mem[1].Get("wal/k")), "v");
    EXPECT_EQ(r.rs->Describe(), "mem: + mem:");
    ASSERT_TRUE(r.rs->Delete("wal/k").ok());
    EXPECT_FALSE(Has(r.mem[0], "wal/k"));
    EXPECT_FALSE(Has(r.mem[1], "wal/k"));
  }
}

TEST(ReplicatedStorageTest, OneReplicaFailingAWriteUnderEachPolicy) {
  struct Case {
    WritePolicy policy;
    int failing;
    Status failure;
    Code want;  // kOk or the failure's code
  };
  const Status eio = FaultStorage::Eio();
  const Status down = Status::Unavailable("503 SlowDown");
  const std::vector<Case> cases = {
      {WritePolicy::kAll, 0, eio, Code::kIo},
      {WritePolicy::kAll, 1, eio, Code::kIo},
      {WritePolicy::kAll, 0, down, Code::kUnavailable},
      {WritePolicy::kAll, 1, FaultStorage::NoSpace(), Code::kIo},
      {WritePolicy::kAny, 0, eio, Code::kOk},
      {WritePolicy::kAny, 1, eio, Code::kOk},
      {WritePolicy::kAny, 0, down, Code::kOk},
      {WritePolicy::kAny, 1, down, Code::kOk},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("policy {} replica {} {}",
                             c.policy == WritePolicy::kAll ? "all" : "any", c.failing,
                             c.failure.ToString()));
    Replicas r(c.policy);
    r.fault[c.failing]->FailNth(StorageOp::kPut, 1, c.failure);
    Status s = r.rs->Put("packs/k", AsBytes("v"));
    EXPECT_EQ(s.code(), c.want);
    if (c.want != Code::kOk) {
      EXPECT_EQ(s.message(), "repository 'mem:': put 'packs/k': " + c.failure.message());
    }
    // The healthy replica keeps what it got (write-once: a retry completes the other).
    EXPECT_TRUE(Has(r.mem[1 - c.failing], "packs/k"));
    EXPECT_FALSE(Has(r.mem[c.failing], "packs/k"));
    // A retry (of kAll's failure; a no-op for kAny's) completes both replicas.
    ASSERT_TRUE(r.rs->Put("packs/k", AsBytes("v")).ok());
    if (c.policy == WritePolicy::kAll || c.failure.code() != Code::kUnavailable) {
      EXPECT_TRUE(Has(r.mem[c.failing], "packs/k"));
    }
  }
}

TEST(ReplicatedStorageTest, BothReplicasFailingIsTheFirstError) {
  for (WritePolicy policy : {WritePolicy::kAll, WritePolicy::kAny}) {
    Replicas r(policy);
    r.fault[0]->FailNth(StorageOp::kPut, 1, FaultStorage::NoSpace());
    r.fault[1]->FailNth(StorageOp::kPut, 1, FaultStorage::Eio());
    Status s = r.rs->Put("packs/k", AsBytes("v"));
    EXPECT_EQ(s.code(), Code::kIo);
    EXPECT_EQ(s.message(),
              "repository 'mem:': put 'packs/k': no space left on device (simulated ENOSPC)");
  }
}

TEST(ReplicatedStorageTest, AConflictKeepsTheExistingObjectOnEveryReplica) {
  Replicas r(WritePolicy::kAll);
  ASSERT_TRUE(r.mem[0].Put("wal/k", AsBytes("old")).ok());  // replica 1 missed it
  Status s = r.rs->Put("wal/k", AsBytes("new"), {.if_absent = true});
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(AsString(*r.mem[0].Get("wal/k")), "old");
  EXPECT_EQ(AsString(*r.mem[1].Get("wal/k")), "old");
}

TEST(ReplicatedStorageTest, ReadsFallOverToTheSecondReplica) {
  for (WritePolicy policy : {WritePolicy::kAll, WritePolicy::kAny}) {
    for (Status failure : {FaultStorage::Eio(), Status::Unavailable("timeout")}) {
      SCOPED_TRACE(failure.ToString());
      Replicas r(policy);
      ASSERT_TRUE(r.rs->Put("wal/k", AsBytes("v")).ok());
      r.fault[0]->FailNth(StorageOp::kGet, 1, failure);
      r.fault[0]->FailNth(StorageOp::kStat, 1, failure);
      r.fault[0]->FailNth(StorageOp::kList, 1, failure);
      EXPECT_EQ(AsString(*r.rs->Get("wal/k")), "v");
      EXPECT_EQ(r.rs->Stat("wal/k")->size, 1u);
      auto list = r.rs->List("wal/");
      ASSERT_TRUE(list.ok());
      ASSERT_EQ(list->size(), 1u);
    }
  }
}

TEST(ReplicatedStorageTest, AllReplicasFailingAReadIsTheFirstError) {
  Replicas r(WritePolicy::kAll);
  r.fault[0]->FailNth(StorageOp::kGet, 1, FaultStorage::Eio());
  r.fault[1]->FailNth(StorageOp::kGet, 1, Status::Unavailable("timeout"));
  auto got = r.rs->Get("wal/k");
  EXPECT_EQ(got.status().code(), Code::kIo);
  EXPECT_EQ(got.status().message(), "get 'wal/k': input/output error (simulated EIO)");
}

TEST(ReplicatedStorageTest, NotFoundWhileAReplicaFailsDependsOnThePolicy) {
  // kAll: every replica got every object, so a reachable replica's "not found" is the answer.
  Replicas all(WritePolicy::kAll);
  all.fault[0]->FailNth(StorageOp::kGet, 1, FaultStorage::Eio());
  auto got = all.rs->Get("wal/missing");
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_EQ(got.status().message(),
            "not found in the reachable replicas (get 'wal/missing': input/output error "
            "(simulated EIO))");
  // kAny: the failing replica may hold it, so its error stands.
  Replicas any(WritePolicy::kAny);
  any.fault[0]->FailNth(StorageOp::kGet, 1, FaultStorage::Eio());
  got = any.rs->Get("wal/missing");
  EXPECT_EQ(got.status().code(), Code::kIo);
}

TEST(ReplicatedStorageTest, AnUnavailableReplicaIsSkippedWhileDown) {
  Replicas r(WritePolicy::kAny);
  ASSERT_TRUE(r.rs->Put("wal/a", AsBytes("1")).ok());
  ASSERT_TRUE(r.rs->Put("wal/b", AsBytes("2")).ok());
  r.fault[0]->FailNth(StorageOp::kGet, 1, Status::Unavailable("timeout"), "", true);
  EXPECT_EQ(AsString(*r.rs->Get("wal/a")), "1");  // asked replica 0, then 1
  EXPECT_EQ(r.fault[0]->calls(StorageOp::kGet), 1u);
  // Down now: reads go to replica 1 first and never reach replica 0.
  for (int read_idx = 0; read_idx < 5; ++read_idx) EXPECT_EQ(AsString(*r.rs->Get("wal/b")), "2");
  EXPECT_EQ(r.fault[0]->calls(StorageOp::kGet), 1u);
  // With 'any', writes skip it too and succeed on replica 1.
  uint64_t puts_before = r.fault[0]->calls(StorageOp::kPut);
  ASSERT_TRUE(r.rs->Put("wal/c", AsBytes("3")).ok());
  EXPECT_EQ(r.fault[0]->calls(StorageOp::kPut), puts_before);
  EXPECT_FALSE(Has(r.mem[0], "wal/c"));
  EXPECT_TRUE(Has(r.mem[1], "wal/c"));
  // Only replica 0 may hold a key: it is still asked, last, and its error stands under 'any'.
  auto missing = r.rs->Get("wal/only-on-0");
  EXPECT_EQ(missing.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.fault[0]->calls(StorageOp::kGet), 2u);
  // Once it answers again it is no longer down: writes reach it.
  r.fault[0]->Clear();
  ASSERT_TRUE(r.mem[0].Put("wal/only-on-0", AsBytes("0")).ok());
  EXPECT_EQ(AsString(*r.rs->Get("wal/only-on-0")), "0");
  ASSERT_TRUE(r.rs->Put("wal/d", AsBytes("4")).ok());
  EXPECT_TRUE(Has(r.mem[0], "wal/d"));
}

TEST(ReplicatedStorageTest, UnderAllADownReplicaIsNotAskedForWhatAnotherLacks) {
  Replicas r(WritePolicy::kAll);
  r.fault[0]->FailNth(StorageOp::kGet, 1, Status::Unavailable("timeout"), "", true);
  auto first = r.rs->Get("wal/x");
  EXPECT_EQ(first.status().code(), Code::kNotFound);
  EXPECT_EQ(first.status().message(), "not found in the reachable replicas (get 'wal/x': timeout)");
  uint64_t calls = r.fault[0]->calls(StorageOp::kGet);
  EXPECT_EQ(calls, 1u);
  auto again = r.rs->Get("wal/x");
  EXPECT_EQ(again.status().code(), Code::kNotFound);
  EXPECT_EQ(again.status().message(), "'wal/x' does not exist");
  EXPECT_EQ(r.fault[0]->calls(StorageOp::kGet), calls);
  // Writes under 'all' still go to it.
  ASSERT_TRUE(r.rs->Put("wal/y", AsBytes("1")).ok());
  EXPECT_TRUE(Has(r.mem[0], "wal/y"));
}

TEST(ReplicatedStorageTest, ListIsTheUnionOfTheReplicas) {
  Replicas r(WritePolicy::kAny);
  ASSERT_TRUE(r.mem[0].Put("wal/a", AsBytes("1")).ok());
  ASSERT_TRUE(r.mem[1].Put("wal/b", AsBytes("2")).ok());
  ASSERT_TRUE(r.mem[0].Put("wal/c", AsBytes("3")).ok());
  ASSERT_TRUE(r.mem[1].Put("wal/c", AsBytes("3")).ok());
  auto list = r.rs->List("wal/");
  ASSERT_TRUE(list.ok());
  std::vector<std::string> keys;
  for (const auto& obj : *list) keys.push_back(obj.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"wal/a", "wal/b", "wal/c"}));
}

// A repository on two replicas; replica 0's copy of an object is damaged.
struct ReplicatedRepo {
  MemStorage mem[2];
  std::unique_ptr<repo::Repository> repo;
  ReplicatedRepo() {
    std::vector<std::unique_ptr<Storage>> list;
    for (auto& m : mem) list.push_back(std::make_unique<BorrowedStorage>(m));
    auto rs = std::make_unique<ReplicatedStorage>(std::move(list), WritePolicy::kAll);
    repo::Secret secret{.passphrase = "pw"};
    EXPECT_TRUE(repo::Repository::Create(*rs, {.encrypted = false}, secret).ok());
    auto opened = repo::Repository::Open(std::move(rs), secret);
    EXPECT_TRUE(opened.ok());
    repo = std::move(opened).value();
  }
};

void Flip(MemStorage& mem, std::string_view key, size_t at) { (*mem.Mutable(key))[at] ^= 0x10; }

TEST(ReplicatedStorageTest, ADamagedWalObjectIsReadFromTheOtherReplica) {
  ReplicatedRepo r;
  const std::string name = "000000010000000000000007";
  const Bytes content = repo::testing::TestBlock(7);
  ASSERT_TRUE(repo::PushWal(*r.repo, name, content).ok());
  const std::string key = *repo::WalKey(name);
  Flip(r.mem[0], key, 100);
  auto got = repo::GetWal(*r.repo, name);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
  // Damaged on both: the damage is reported, never returned as data.
  Flip(r.mem[1], key, 200);
  got = repo::GetWal(*r.repo, name);
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_EQ(got.status().message(), fmt::format("WAL object '{}' is damaged: crc32 mismatch", key));
}

TEST(ReplicatedStorageTest, ADamagedBlockIsReadFromTheOtherReplica) {
  ReplicatedRepo r;
  ASSERT_TRUE(repo::testing::WriteTestBackup(*r.repo, r.repo->storage(), "20261128-120000F").ok());
  auto reader = repo::ManifestReader::Open(r.repo->storage(), r.repo->codec(), "20261128-120000F");
  ASSERT_TRUE(reader.ok());
  repo::FileEntry entry;
  ASSERT_TRUE((*reader)->Next(entry));
  const repo::BlockRef& bad = entry.blocks[5];
  Flip(r.mem[0], repo::PackKey(bad.loc.pack), bad.loc.offset + 50);
  repo::BlockReader blocks(r.repo->storage(), r.repo->codec(), r.repo->id_key());
  size_t seen = 0;
  Status s = blocks.Read(entry.blocks, 0, entry.blocks.size(), [&](size_t idx, Bytes& plain) {
    EXPECT_EQ(plain, repo::testing::TestBlock(idx));
    seen++;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seen, entry.blocks.size());
  // Damaged on both replicas: kCorruption naming the pack and offset.
  Flip(r.mem[1], repo::PackKey(bad.loc.pack), bad.loc.offset + 60);
  s = blocks.Read(entry.blocks, 0, entry.blocks.size(),
                  [](size_t, Bytes&) { return Status::Ok(); });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), fmt::format("block at offset {} of pack '{}': crc32 mismatch",
                                     bad.loc.offset, repo::PackKey(bad.loc.pack)));
}

const Bytes kGood = {'g', 'o', 'o', 'd', ' ', 'b', 'y', 't', 'e', 's'};

// The check a reader would pass: the bytes must be kGood (a block's id, a WAL object's tag).
Status MustBeGood(ByteView bytes) {
  if (std::equal(bytes.begin(), bytes.end(), kGood.begin(), kGood.end())) return Status::Ok();
  return Status::Corruption("object 'k' is damaged");
}

struct CheckedReplicas {
  MemStorage r1, r2;
  std::unique_ptr<ReplicatedStorage> storage;
  explicit CheckedReplicas(WritePolicy policy = WritePolicy::kAll) {
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
  CheckedReplicas rs;
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
  CheckedReplicas rs;
  (*rs.r1.Mutable("k"))[0] ^= 1;
  (*rs.r2.Mutable("k"))[9] ^= 1;
  auto got = rs.storage->GetChecked("k", {}, MustBeGood);
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_EQ(got.status().message(), "object 'k' is damaged");
}

TEST(GetCheckedTest, DamageInOneReplicaAndMissingInTheOtherIsTheDamage) {
  CheckedReplicas rs(WritePolicy::kAny);
  (*rs.r1.Mutable("k"))[0] ^= 1;
  ASSERT_TRUE(rs.r2.Delete("k").ok());
  EXPECT_EQ(rs.storage->GetChecked("k", {}, MustBeGood).status().code(), Code::kCorruption);
  ASSERT_TRUE(rs.r1.Delete("k").ok());
  EXPECT_EQ(rs.storage->GetChecked("k", {}, MustBeGood).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace pgvault::storage

#include "repo/block_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pipeline/delta.h"
#include "repo/pack.h"
#include "repo/wal_store.h"
#include "storage/mem/mem_storage.h"
#include "storage/replicated/replicated_storage.h"

namespace pgvault::repo {
namespace {

class BlockReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Repository::Create(mem_, {}, {.passphrase = "unit test passphrase"}).ok());
    auto repo = Repository::Open(std::make_unique<storage::BorrowedStorage>(mem_),
                                 {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(repo.ok());
    repo_ = std::move(repo).value();
  }
  storage::MemStorage mem_;
  std::unique_ptr<Repository> repo_;
};

Bytes Page(uint8_t seed) {
  Bytes b(65536);
  for (size_t byte_idx = 0; byte_idx < b.size(); ++byte_idx)
    b[byte_idx] = static_cast<uint8_t>((byte_idx * 7 + seed) % 251);
  return b;
}

TEST_F(BlockReaderTest, FullAndDeltaBlocksComeBackAndVerify) {
  pipeline::Hmac hmac(repo_->id_key());
  PackWriter old_packs(repo_->storage(), repo_->codec(), 1 << 20, nullptr);
  std::vector<Bytes> bases = {Page(1), Page(2), Page(3)};
  std::vector<BlockRef> base_refs;
  for (const auto& b : bases) {
    BlockRef r{.id = hmac.Compute(b)};
    r.loc = *old_packs.Add(r.id, b);
    base_refs.push_back(r);
  }
  ASSERT_TRUE(old_packs.Flush().ok());

  // A new version: block 0 unchanged, block 1 a delta, block 2 zero, block 3 new and full.
  Bytes changed = bases[1];
  changed[100] ^= 0xff;
  Bytes frame;
  ASSERT_TRUE(pipeline::DeltaEncode(bases[1], changed, 3, frame).ok());
  EXPECT_LT(frame.size(), 200u);
  PackWriter new_packs(repo_->storage(), repo_->codec(), 1 << 20, nullptr);
  BlockRef delta{.id = hmac.Compute(changed),
                 .delta = true,
                 .base_id = base_refs[1].id,
                 .base_loc = base_refs[1].loc};
  delta.loc = *new_packs.AddDelta(delta.id, frame, changed.size(), delta.base_id, delta.base_loc);
  Bytes fresh = Page(9);
  BlockRef full{.id = hmac.Compute(fresh)};
  full.loc = *new_packs.Add(full.id, fresh);
  ASSERT_TRUE(new_packs.Flush().ok());
  std::vector<BlockRef> refs = {base_refs[0], delta, BlockRef{.zero = true}, full};

  BlockReader reader(repo_->storage(), repo_->codec(), repo_->id_key());
  std::vector<size_t> seen;
  ASSERT_TRUE(reader
                  .Read(refs, 0, refs.size(),
                        [&](size_t idx, Bytes& plain) {
                          seen.push_back(idx);
                          const Bytes& want = idx == 0 ? bases[0] : idx == 1 ? changed : fresh;
                          EXPECT_EQ(plain, want) << "block " << idx;
                          return Status::Ok();
                        })
                  .ok());
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 3}));
  // Blocks 0 and 1 (the base) sit side by side in the old pack, the delta and block 3 in the new
  // one: two ranged reads in all.
  EXPECT_EQ(reader.requests(), 2u);

  // The new pack verifies on its own, reading the delta's base from the old one.
  auto key = PackKey(delta.loc.pack);
  EXPECT_TRUE(VerifyPack(mem_, repo_->codec(), hmac, delta.loc.pack, *mem_.Get(key)).ok());

  // A damaged base makes the delta unreadable, with the base named.
  Bytes* old_pack = mem_.Mutable(PackKey(base_refs[1].loc.pack));
  (*old_pack)[base_refs[1].loc.offset + 20] ^= 1;
  Status s = reader.Read(refs, 1, 1, [](size_t, Bytes&) { return Status::Ok(); });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(fmt::format("block at offset {} of pack '{}'", base_refs[1].loc.offset,
                                         PackKey(base_refs[1].loc.pack))),
            std::string::npos)
      << s.message();
}

// A repository kept in two places (--repo2): damage in one replica is read around through
// Storage::GetChecked; damage in both is the damage.
class ReplicatedReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<storage::Storage>> list;
    list.push_back(std::make_unique<storage::BorrowedStorage>(r1_));
    list.push_back(std::make_unique<storage::BorrowedStorage>(r2_));
    auto replicated =
        std::make_unique<storage::ReplicatedStorage>(std::move(list), storage::WritePolicy::kAll);
    ASSERT_TRUE(Repository::Create(*replicated, {}, {.passphrase = "unit test passphrase"}).ok());
    auto repo = Repository::Open(std::move(replicated), {.passphrase = "unit test passphrase"});
    ASSERT_TRUE(repo.ok());
    repo_ = std::move(repo).value();
  }
  storage::MemStorage r1_, r2_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(ReplicatedReadTest, ADamagedBlockIsReadFromTheOtherReplica) {
  pipeline::Hmac hmac(repo_->id_key());
  PackWriter packs = repo_->NewPackWriter();
  Bytes base = Page(1), changed = Page(1);
  changed[7] ^= 0xff;
  BlockRef full{.id = hmac.Compute(base)};
  full.loc = *packs.Add(full.id, base);
  Bytes frame;
  ASSERT_TRUE(pipeline::DeltaEncode(base, changed, 3, frame).ok());
  BlockRef delta{
      .id = hmac.Compute(changed), .delta = true, .base_id = full.id, .base_loc = full.loc};
  delta.loc = *packs.AddDelta(delta.id, frame, changed.size(), delta.base_id, delta.base_loc);
  ASSERT_TRUE(packs.Flush().ok());
  std::vector<BlockRef> refs = {full, delta};
  auto read_all = [&](std::vector<Bytes>& out) {
    BlockReader reader = repo_->NewBlockReader();
    out.clear();
    return reader.Read(refs, 0, refs.size(), [&](size_t, Bytes& plain) {
      out.push_back(plain);
      return Status::Ok();
    });
  };
  // The base (which the delta needs too) damaged in replica 1, the delta in replica 2.
  std::string key = PackKey(full.loc.pack);
  (*r1_.Mutable(key))[full.loc.offset + 20] ^= 1;
  (*r2_.Mutable(key))[delta.loc.offset + 20] ^= 1;
  std::vector<Bytes> got;
  Status s = read_all(got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, (std::vector<Bytes>{base, changed}));

  // The base damaged in both: the damage, naming the block.
  (*r2_.Mutable(key))[full.loc.offset + 20] ^= 1;
  s = read_all(got);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(fmt::format("block at offset {} of pack '{}'", full.loc.offset, key)),
            std::string::npos)
      << s.message();
}

TEST_F(ReplicatedReadTest, ADamagedWalObjectIsReadFromTheOtherReplica) {
  const std::string name = "00000002.history";
  ByteView text = AsBytes("1\t0/3000000\tno recovery target\n");
  Bytes content(text.begin(), text.end());
  ASSERT_TRUE(PushWal(*repo_, name, content).ok());
  r1_.Mutable(*WalKey(name))->back() ^= 1;
  auto got = GetWal(*repo_, name);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
  r2_.Mutable(*WalKey(name))->back() ^= 1;
  got = GetWal(*repo_, name);
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_EQ(
      got.status().message().rfind("WAL object 'wal/00000002/00000002.history' is damaged", 0), 0u)
      << got.status().message();
}

}  // namespace
}  // namespace pgvault::repo

#include "repo/block_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pipeline/delta.h"
#include "repo/pack.h"
#include "storage/mem/mem_storage.h"

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

}  // namespace
}  // namespace pgvault::repo

// Repository format tests on the in-memory storage: keys, packs, manifests, WAL objects.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "repo/wal_store.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo {
namespace {

struct Fixture {
  storage::MemStorage* mem = nullptr;
  std::unique_ptr<Repository> repo;
};

Fixture MakeRepo(bool encrypted, Secret secret = {.passphrase = "correct horse battery"}) {
  auto storage = std::make_unique<storage::MemStorage>();
  Fixture f;
  f.mem = storage.get();
  RepoParams params;
  params.encrypted = encrypted;
  params.pack_size = 1 << 20;
  EXPECT_TRUE(Repository::Create(*storage, params, secret).ok());
  auto repo = Repository::Open(std::move(storage), secret);
  EXPECT_TRUE(repo.ok()) << repo.status().ToString();
  f.repo = std::move(repo).value();
  return f;
}

TEST(RepositoryTest, RefusesToCreateOverAnExistingRepository) {
  storage::MemStorage mem;
  Secret secret{.passphrase = "a long enough passphrase"};
  ASSERT_TRUE(Repository::Create(mem, {}, secret).ok());
  Status s = Repository::Create(mem, {}, secret);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "a pgvault repository already exists at 'mem:'");
}

TEST(RepositoryTest, WrongPassphraseIsACryptoErrorAndChangesNothing) {
  storage::MemStorage mem;
  ASSERT_TRUE(Repository::Create(mem, {}, {.passphrase = "the right passphrase"}).ok());
  auto before = mem.List("");
  auto r =
      Repository::Open(std::make_unique<storage::BorrowedStorage>(mem), {.passphrase = "wrong"});
  EXPECT_EQ(r.status().code(), Code::kCrypto);
  EXPECT_TRUE(r.status().message().starts_with(
      "wrong passphrase or key file for repository 'mem:' (no key object opens with it: 'keys/"))
      << r.status().message();
  auto after = mem.List("");
  ASSERT_EQ(after->size(), before->size());
  for (size_t obj_idx = 0; obj_idx < after->size(); ++obj_idx)
    EXPECT_EQ(*mem.Get((*after)[obj_idx].key), *mem.Get((*before)[obj_idx].key));
}

// A passphrase's key-encryption key is kept in the kernel keyring after it unwrapped the key
// (common/keyring.h): the next open skips scrypt, and a wrong passphrase still fails, also
// right after the right one was cached and with the cache off.
TEST(RepositoryTest, TheKeyCacheNeverOpensTheRepositoryForAWrongPassphrase) {
  storage::MemStorage mem;
  ASSERT_TRUE(Repository::Create(mem, {}, {.passphrase = "the right passphrase"}).ok());
  auto open = [&](const Secret& secret) {
    return Repository::Open(std::make_unique<storage::BorrowedStorage>(mem), secret);
  };
  ASSERT_TRUE(open({.passphrase = "the right passphrase"}).ok());
  auto again =
      open({.passphrase = "the right passphrase"});  // from the cache, if the kernel has one
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (bool cache : {true, false}) {
    auto wrong = open({.passphrase = "the wrong passphrase", .cache_kek = cache});
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.status().code(), Code::kCrypto);
  }
  EXPECT_TRUE(open({.passphrase = "the right passphrase", .cache_kek = false}).ok());
}

// A config field of the wrong type (an edit without its checksum, or a config written before
// checksums) is a damaged config, not an internal error from the JSON library.
TEST(RepositoryTest, AMistypedConfigFieldIsCorruption) {
  storage::MemStorage mem;
  ASSERT_TRUE(Repository::Create(mem, {.encrypted = false}, {}).ok());
  Bytes* config = mem.Mutable("config");
  ASSERT_NE(config, nullptr);
  auto j = nlohmann::json::parse(AsString(*config));
  j.erase("checksum");
  j["block_size"] = "big";
  std::string text = j.dump();
  config->assign(text.begin(), text.end());
  auto r = Repository::Open(std::make_unique<storage::BorrowedStorage>(mem), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(),
            "repository 'mem:': its 'config' object has a field of the wrong type");
}

TEST(RepositoryTest, NewPassphrasesNeedAsManyCharactersAsKeyFiles) {
  storage::MemStorage mem;
  Status s = Repository::Create(mem, {}, {.passphrase = "x"});
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_EQ(s.message(), "the passphrase holds fewer than 16 characters");
  EXPECT_TRUE(mem.List("")->empty());
  Fixture f = MakeRepo(true);
  Status add = AddKey(*f.repo, {.passphrase = "short"});
  EXPECT_EQ(add.code(), Code::kConfig);
  EXPECT_EQ(add.message(), "the passphrase holds fewer than 16 characters");
}

TEST(RepositoryTest, KeyFileReadableByOthersIsRefused) {
  std::string path = ::testing::TempDir() + "/pgvault-open-key";
  std::remove(path.c_str());
  {
    std::ofstream out(path);
    out << "0123456789abcdef0123456789abcdef\n";
  }
  ::chmod(path.c_str(), 0644);
  storage::MemStorage mem;
  Status s = Repository::Create(mem, {}, {.key_file_path = path});
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_EQ(s.message(), "key file '" + path + "' is accessible by group or others (mode 0644)");
  EXPECT_EQ(s.hint(), "chmod 600 " + path);
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(Repository::Create(mem, {}, {.key_file_path = path}).ok());
  std::remove(path.c_str());
}

TEST(RepositoryTest, MissingRepositoryIsAConfigErrorWithAHint) {
  auto r = Repository::Open(std::make_unique<storage::MemStorage>(), {.passphrase = "x"});
  EXPECT_EQ(r.status().code(), Code::kConfig);
  EXPECT_EQ(r.status().message(), "no pgvault repository at 'mem:'");
  EXPECT_NE(r.status().hint().find("repo-create"), std::string::npos);
}

TEST(RepositoryTest, AddedPassphraseUnlocksTheSameKeys) {
  Fixture f = MakeRepo(true, {.passphrase = "the old passphrase"});
  ASSERT_TRUE(AddKey(*f.repo, {.passphrase = "the new passphrase"}).ok());
  Bytes sealed = f.repo->codec().Encode(AsBytes("data"), AsBytes("aad"));
  auto reopened = Repository::Open(std::make_unique<storage::BorrowedStorage>(f.repo->storage()),
                                   {.passphrase = "the new passphrase"});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto plain = (*reopened)->codec().Decode(sealed, AsBytes("aad"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(AsString(*plain), "data");
  EXPECT_EQ((*reopened)->id_key().view().size(), 32u);
}

TEST(RepositoryTest, ClusterIsRecordedOnceAndChecked) {
  Fixture f = MakeRepo(false);
  EXPECT_TRUE(f.repo->CheckCluster(42, 15).ok());
  EXPECT_TRUE(f.repo->CheckCluster(42, 15).ok());
  Status s = f.repo->CheckCluster(43, 15);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "repository 'mem:' belongs to PostgreSQL system 42, not 43");
}

TEST(RepositoryTest, TheClustersWalSegmentSizeIsRecordedOnceAndChecked) {
  Fixture f = MakeRepo(false);
  EXPECT_EQ(*f.repo->RecordedWalSegmentSize(), 0u);  // nothing recorded yet
  ASSERT_TRUE(f.repo->CheckCluster(42, 15, 64 << 20).ok());
  EXPECT_EQ(*f.repo->RecordedWalSegmentSize(), 64u << 20);
  EXPECT_TRUE(f.repo->CheckCluster(42, 15, 64 << 20).ok());
  EXPECT_TRUE(f.repo->CheckCluster(42, 15).ok());  // a caller that does not know the size
  Status s = f.repo->CheckCluster(42, 15, 16 << 20);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(),
            "repository 'mem:' holds WAL of 64 MiB segments, but the cluster now writes 16 MiB "
            "segments");
}

TEST(RepositoryTest, AClusterRecordWithoutSegmentSizeStillReads) {
  Fixture f = MakeRepo(false);
  ASSERT_TRUE(f.repo->CheckCluster(42, 15).ok());  // as versions before the field wrote it
  EXPECT_EQ(*f.repo->RecordedWalSegmentSize(), 0u);
  EXPECT_TRUE(f.repo->CheckCluster(42, 15, 16 << 20).ok());
}

TEST(PackTest, BlocksRoundTripAndAFlippedByteIsCaught) {
  for (bool encrypted : {false, true}) {
    Fixture f = MakeRepo(encrypted);
    pipeline::Hmac hmac(f.repo->id_key());
    PackWriter writer(f.repo->storage(), f.repo->codec(), 1 << 20, nullptr);
    std::vector<std::pair<pipeline::Digest, BlockLocation>> refs;
    std::vector<Bytes> blocks;
    for (int block_idx = 0; block_idx < 20; ++block_idx) {
      Bytes b(8192, static_cast<uint8_t>(block_idx));
      b[0] = 0xff;
      auto id = hmac.Compute(b);
      auto loc = writer.Add(id, b);
      ASSERT_TRUE(loc.ok());
      refs.emplace_back(id, *loc);
      blocks.push_back(b);
    }
    ASSERT_TRUE(writer.Flush().ok());
    EXPECT_EQ(writer.stats().packs_written, 1u);
    for (size_t block_idx = 0; block_idx < refs.size(); ++block_idx) {
      auto [id, loc] = refs[block_idx];
      auto sealed = f.repo->storage().Get(PackKey(loc.pack), {loc.offset, loc.size});
      ASSERT_TRUE(sealed.ok());
      auto plain = DecodeBlock(f.repo->codec(), hmac, id, loc, *sealed);
      ASSERT_TRUE(plain.ok()) << plain.status().ToString();
      EXPECT_EQ(*plain, blocks[block_idx]);
    }
    auto [id, loc] = refs[3];
    Bytes* pack = f.mem->Mutable(PackKey(loc.pack));
    (*pack)[loc.offset + loc.size / 2] ^= 0x40;
    auto sealed = f.repo->storage().Get(PackKey(loc.pack), {loc.offset, loc.size});
    auto bad = DecodeBlock(f.repo->codec(), hmac, id, loc, *sealed);
    EXPECT_EQ(bad.status().code(), Code::kCorruption);
    EXPECT_NE(bad.status().message().find(PackKey(loc.pack)), std::string::npos);
  }
}

FileEntry MakeEntry(const std::string& path, int nblocks) {
  FileEntry e{.type = EntryType::kFile,
              .path = path,
              .mode = 0600,
              .size = 8192ull * nblocks,
              .mtime = 1700000000};
  for (int block_idx = 0; block_idx < nblocks; ++block_idx) {
    BlockRef b;
    b.zero = block_idx % 3 == 0;
    if (!b.zero) {
      b.id.fill(static_cast<uint8_t>(block_idx));
      b.loc.offset = block_idx * 100;
      b.loc.size = 100;
    }
    e.blocks.push_back(b);
  }
  e.checksum = FileChecksum(e.blocks);
  return e;
}

TEST(ManifestTest, StreamsManyPartsInOrder) {
  Fixture f = MakeRepo(true);
  ManifestWriter writer(f.repo->storage(), f.repo->codec(), "20261128-120000F", 4096);
  for (int file_idx = 0; file_idx < 500; ++file_idx)
    ASSERT_TRUE(writer.Add(MakeEntry(fmt::format("base/1/{:05}", file_idx), file_idx % 7)).ok());
  ASSERT_TRUE(
      writer
          .Finish(
              {.backup_id = "20261128-120000F", .wal_segment_size = 16 << 20, .block_size = 131072})
          .ok());
  auto reader = ManifestReader::Open(f.repo->storage(), f.repo->codec(), "20261128-120000F");
  ASSERT_TRUE(reader.ok());
  EXPECT_GT((*reader)->header().parts, 5);
  FileEntry e;
  int n = 0;
  while ((*reader)->Next(e)) {
    FileEntry want = MakeEntry(fmt::format("base/1/{:05}", n), n % 7);
    EXPECT_EQ(e.path, want.path);
    EXPECT_EQ(e.blocks.size(), want.blocks.size());
    EXPECT_EQ(e.checksum, want.checksum);
    n++;
  }
  EXPECT_TRUE((*reader)->status().ok());
  EXPECT_EQ(n, 500);
  auto ids = ListBackups(f.repo->storage());
  ASSERT_EQ(ids->size(), 1u);
}

TEST(ManifestTest, AMissingPartIsReportedNotSkipped) {
  Fixture f = MakeRepo(false);
  ManifestWriter writer(f.repo->storage(), f.repo->codec(), "20261128-120000F", 1024);
  for (int file_idx = 0; file_idx < 100; ++file_idx)
    ASSERT_TRUE(writer.Add(MakeEntry(fmt::format("f{:03}", file_idx), 4)).ok());
  ASSERT_TRUE(writer.Finish({.wal_segment_size = 16 << 20, .block_size = 131072}).ok());
  ASSERT_TRUE(f.repo->storage().Delete(ManifestPartKey("20261128-120000F", 2)).ok());
  auto reader = ManifestReader::Open(f.repo->storage(), f.repo->codec(), "20261128-120000F");
  FileEntry e;
  while ((*reader)->Next(e)) {
  }
  EXPECT_EQ((*reader)->status().code(), Code::kCorruption);
  EXPECT_EQ((*reader)->status().message(),
            "manifest part 'backups/20261128-120000F/files.000002' of backup '20261128-120000F' is "
            "missing");
}

// Expire deletes the manifest, then the parts: a reader that had the header finds a backup that
// is gone, not a damaged one.
TEST(ManifestTest, ABackupExpiredWhileReadIsNotFoundNotDamage) {
  Fixture f = MakeRepo(false);
  ManifestWriter writer(f.repo->storage(), f.repo->codec(), "20261128-120000F", 1024);
  for (int file_idx = 0; file_idx < 100; ++file_idx)
    ASSERT_TRUE(writer.Add(MakeEntry(fmt::format("f{:03}", file_idx), 4)).ok());
  ASSERT_TRUE(writer.Finish({.wal_segment_size = 16 << 20, .block_size = 131072}).ok());
  auto reader = ManifestReader::Open(f.repo->storage(), f.repo->codec(), "20261128-120000F");
  ASSERT_TRUE(reader.ok());
  FileEntry e;
  ASSERT_TRUE((*reader)->Next(e));
  ASSERT_TRUE(f.repo->storage().Delete(ManifestKey("20261128-120000F")).ok());
  ASSERT_TRUE(f.repo->storage().Delete(ManifestPartKey("20261128-120000F", 2)).ok());
  int read = 1;
  while ((*reader)->Next(e)) ++read;
  EXPECT_LT(read, 100);
  EXPECT_EQ((*reader)->status().code(), Code::kNotFound);
  EXPECT_EQ((*reader)->status().message(),
            "backup '20261128-120000F' was expired while it was read");
}

TEST(ManifestTest, BackupWithoutManifestDoesNotExist) {
  Fixture f = MakeRepo(false);
  ManifestWriter writer(f.repo->storage(), f.repo->codec(), "20261128-120000F", 64);
  ASSERT_TRUE(writer.Add(MakeEntry("a", 3)).ok());  // parts written, header never
  EXPECT_TRUE(ListBackups(f.repo->storage())->empty());
}

Bytes FakeSegment(uint8_t fill) { return Bytes(16 << 20, fill); }

TEST(WalStoreTest, SamePushTwiceIsFineDifferentContentIsAConflict) {
  Fixture f = MakeRepo(true);
  const std::string name = "000000010000000000000003";
  EXPECT_EQ(*PushWal(*f.repo, name, FakeSegment(1)), PushOutcome::kStored);
  EXPECT_EQ(*PushWal(*f.repo, name, FakeSegment(1)), PushOutcome::kAlreadyArchived);
  auto conflict = PushWal(*f.repo, name, FakeSegment(2));
  EXPECT_EQ(conflict.status().code(), Code::kConflict);
  EXPECT_EQ(conflict.status().message(),
            "WAL file '000000010000000000000003' is already archived with different content; the "
            "repository was not changed");
  auto back = GetWal(*f.repo, name);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, FakeSegment(1));
  EXPECT_EQ(GetWal(*f.repo, "000000010000000000000004").status().code(), Code::kNotFound);
  EXPECT_EQ(GetWal(*f.repo, "not-a-wal").status().code(), Code::kInvalidArgument);
  auto list = ListWal(f.repo->storage());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, name);
}

TEST(WalStoreTest, DamagedObjectFailsVerification) {
  Fixture f = MakeRepo(false);
  const std::string name = "00000002.history";
  ASSERT_TRUE(PushWal(*f.repo, name, AsBytes("1\t0/3000000\tno recovery target\n")).ok());
  Bytes* obj = f.mem->Mutable(*WalKey(name));
  obj->back() ^= 1;
  EXPECT_EQ(GetWal(*f.repo, name).status().code(), Code::kCorruption);
}

// Repositories written before format 2 keep a SHA-256 of the content in the blob; they stay
// readable, and a damaged copy still fails.
TEST(WalStoreTest, FormatOneObjectsStayReadable) {
  for (bool encrypted : {false, true}) {
    Fixture f = MakeRepo(encrypted);
    const std::string name = "000000010000000000000005";
    Bytes content = FakeSegment(7);
    content[100] = 42;
    // The long page header of segment 5 (verify checks that a segment is the one its name says).
    const uint8_t header[36] = {0x10, 0xD1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0,
                                0,    0,    0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::copy(std::begin(header), std::end(header), content.begin());
    Bytes plain;
    Append(plain, pipeline::Sha256(content));
    Append(plain, content);
    Bytes obj;
    Append(obj, AsBytes("PGVWAL01"));
    Append(obj, f.repo->codec().Encode(plain, AsBytes("pgvault-wal:" + name)));
    ASSERT_TRUE(f.repo->storage().Put(*WalKey(name), obj, {}).ok());
    auto back = GetWal(*f.repo, name);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, content);
    EXPECT_EQ(*PushWal(*f.repo, name, content), PushOutcome::kAlreadyArchived);
    EXPECT_EQ(PushWal(*f.repo, name, FakeSegment(7)).status().code(), Code::kConflict);
    EXPECT_TRUE(VerifyWalObject(*f.repo, *WalKey(name), obj).ok());
  }
}

}  // namespace
}  // namespace pgvault::repo

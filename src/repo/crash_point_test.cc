// Crash points: for every write step of repository creation and of writing a backup's packs and
// manifest, a crash there (FaultStorage::CrashAfterWrites) leaves a repository that either lacks
// the new thing or has all of it. The same enumeration over whole commands is in the
// integration suite.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pipeline/crypto.h"
#include "repo/layout.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "repo/test_repo.h"
#include "storage/fault/fault_storage.h"
#include "storage/mem/mem_storage.h"

namespace pgvault::repo {
namespace {

using storage::FaultStorage;
using storage::MemStorage;
using storage::Storage;
using storage::StorageOp;

// Counts the writes of a clean run of fn, then crashes after every prefix of them.
template <typename Fn, typename Check>
void ForEveryCrashPoint(Fn fn, Check check) {
  uint64_t total_writes = 0;
  {
    MemStorage mem;
    FaultStorage counting(mem);
    ASSERT_TRUE(fn(counting).ok());
    total_writes = counting.calls(StorageOp::kPut) + counting.calls(StorageOp::kDelete);
  }
  ASSERT_GT(total_writes, 0u);
  for (uint64_t crash_at = 0; crash_at <= total_writes; ++crash_at) {
    SCOPED_TRACE(fmt::format("crash after {} of {} writes", crash_at, total_writes));
    MemStorage mem;
    FaultStorage faulty(mem);
    if (crash_at < total_writes) faulty.CrashAfterWrites(crash_at);
    Status s = fn(faulty);
    EXPECT_EQ(s.ok(), crash_at == total_writes) << s.ToString();
    check(mem, s.ok());
  }
}

TEST(CrashPointTest, RepositoryCreateLeavesNoneOrAWholeRepository) {
  for (bool encrypted : {false, true}) {
    RepoParams params;
    params.encrypted = encrypted;
    Secret secret{.passphrase = "correct horse battery"};
    ForEveryCrashPoint([&](Storage& st) { return Repository::Create(st, params, secret); },
                       [&](MemStorage& mem, bool completed) {
                         auto opened = testing::OpenOn(mem, secret);
                         if (completed) {
                           EXPECT_TRUE(opened.ok()) << opened.status().ToString();
                         } else {
                           EXPECT_EQ(opened.status().code(), Code::kConfig);
                         }
                       });
  }
}

TEST(CrashPointTest, BackupIsListedOnlyWhenEveryBlockItNamesIsStored) {
  constexpr std::string_view kId = "20261202-010000F";
  Secret secret{.passphrase = "correct horse battery"};
  // The repository is created without faults; the crash window covers the backup's writes.
  MemStorage empty_repo;  // made once: scrypt is slow
  ASSERT_TRUE(Repository::Create(empty_repo, {}, secret).ok());
  auto empty_objects = empty_repo.List("");
  ASSERT_TRUE(empty_objects.ok());
  uint64_t total_writes = 0;
  for (uint64_t crash_at = 0;; ++crash_at) {
    MemStorage mem;
    for (const auto& obj : *empty_objects)
      ASSERT_TRUE(mem.Put(obj.key, *empty_repo.Get(obj.key)).ok());
    auto repo = testing::OpenOn(mem, secret);
    ASSERT_TRUE(repo.ok());
    FaultStorage faulty(mem);
    faulty.CrashAfterWrites(crash_at);
    Status s = testing::WriteTestBackup(**repo, faulty, kId);
    auto listed = ListBackups(mem);
    ASSERT_TRUE(listed.ok());
    if (!s.ok()) {
      EXPECT_TRUE(listed->empty()) << "crash after " << crash_at << " writes listed a backup";
      continue;
    }
    total_writes = crash_at;
    ASSERT_EQ(*listed, std::vector<std::string>{std::string(kId)});
    auto reader = ManifestReader::Open(mem, (*repo)->codec(), kId);
    ASSERT_TRUE(reader.ok());
    FileEntry entry;
    ASSERT_TRUE((*reader)->Next(entry));
    pipeline::Hmac hmac((*repo)->id_key());
    for (const auto& ref : entry.blocks) {
      auto sealed = mem.Get(PackKey(ref.loc.pack), {ref.loc.offset, ref.loc.size});
      ASSERT_TRUE(sealed.ok());
      EXPECT_TRUE(DecodeBlock((*repo)->codec(), hmac, ref.id, ref.loc, *sealed).ok());
    }
    break;
  }
  EXPECT_GE(total_writes, 4u);  // several packs, at least one manifest part, the manifest
}

}  // namespace
}  // namespace pgvault::repo

#include "storage/posix/posix_storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

namespace pgvault::storage {
namespace {

class PosixStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgvault-posix-test.XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

// Objects are 0640 (a backup operators' group may read them), owner-only ones 0600; the umask
// can only take more away.
TEST_F(PosixStorageTest, OwnerOnlyObjectsAreNotReadableByTheGroup) {
  PosixStorage s(root_);
  ASSERT_TRUE(s.Put("keys/k", AsBytes("wrapped"), {.if_absent = true, .owner_only = true}).ok());
  ASSERT_TRUE(s.Put("packs/p", AsBytes("data")).ok());
  struct stat key_st {
  }, pack_st{}, dir_st{};
  ASSERT_EQ(::stat((root_ + "/keys/k").c_str(), &key_st), 0);
  ASSERT_EQ(::stat((root_ + "/packs/p").c_str(), &pack_st), 0);
  ASSERT_EQ(::stat((root_ + "/keys").c_str(), &dir_st), 0);
  mode_t umask_now = ::umask(0);
  ::umask(umask_now);
  EXPECT_EQ(key_st.st_mode & 07777, 0600u & ~umask_now);
  EXPECT_EQ(pack_st.st_mode & 07777, 0640u & ~umask_now);
  EXPECT_EQ(dir_st.st_mode & 07777, 0750u & ~umask_now);
}

TEST_F(PosixStorageTest, PutGetRangeListStatDelete) {
  PosixStorage s(root_);
  ASSERT_TRUE(s.Put("a/b/c", AsBytes("hello world")).ok());
  ASSERT_TRUE(s.Put("a/d", AsBytes("x")).ok());
  EXPECT_EQ(AsString(*s.Get("a/b/c")), "hello world");
  EXPECT_EQ(AsString(*s.Get("a/b/c", {6, 5})), "world");
  EXPECT_EQ(AsString(*s.Get("a/b/c", {6, std::nullopt})), "world");
  EXPECT_EQ(s.Get("a/b/c", {100, 5})->size(), 0u);
  auto list = s.List("a/");
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].key, "a/b/c");
  EXPECT_EQ((*list)[1].key, "a/d");
  EXPECT_EQ(s.List("a/b")->size(), 1u);
  EXPECT_EQ(s.List("zzz/")->size(), 0u);
  EXPECT_EQ(s.Stat("a/b/c")->size, 11u);
  EXPECT_EQ(s.Get("nope").status().code(), Code::kNotFound);
  ASSERT_TRUE(s.Delete("a/d").ok());
  ASSERT_TRUE(s.Delete("a/d").ok());
  EXPECT_EQ(s.Stat("a/d").status().code(), Code::kNotFound);
}

TEST_F(PosixStorageTest, IfAbsentNeverReplacesAndLeavesNoTempFiles) {
  PosixStorage s(root_);
  ASSERT_TRUE(s.Put("k", AsBytes("first"), {.if_absent = true}).ok());
  Status again = s.Put("k", AsBytes("second"), {.if_absent = true});
  EXPECT_EQ(again.code(), Code::kConflict);
  EXPECT_EQ(AsString(*s.Get("k")), "first");
  ASSERT_TRUE(s.Put("k", AsBytes("third")).ok());
  EXPECT_EQ(AsString(*s.Get("k")), "third");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(root_)) entries++;
  EXPECT_EQ(entries, 1);
}

TEST_F(PosixStorageTest, TempFilesOfACrashedWriterAreInvisible) {
  PosixStorage s(root_);
  ASSERT_TRUE(s.Put("dir/real", AsBytes("x")).ok());
  // What a writer killed between create and rename leaves behind.
  FILE* f = fopen((root_ + "/dir/.pgvault-tmp.123.0.abc").c_str(), "w");
  fputs("partial", f);
  fclose(f);
  auto list = s.List("");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, "dir/real");
}

TEST_F(PosixStorageTest, AbandonedTempFilesAreRemovedOnlyOnceOld) {
  PosixStorage s(root_);
  ASSERT_TRUE(s.Put("packs/ab/real", AsBytes("x")).ok());
  auto temp = [&](const std::string& rel, const std::string& body, int64_t mtime) {
    std::string path = root_ + "/" + rel;
    FILE* f = fopen(path.c_str(), "w");
    fputs(body.c_str(), f);
    fclose(f);
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  };
  temp("packs/ab/.pgvault-tmp.1.0.a", "half a pack", 1000);
  temp(".pgvault-tmp.2.0.b", "old", 1500);
  temp("packs/ab/.pgvault-tmp.3.0.c", "being written", 5000);
  auto dry = s.RemoveAbandonedWrites(2000, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->count, 2u);
  EXPECT_EQ(dry->bytes, 14u);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/packs/ab/.pgvault-tmp.1.0.a"));
  auto removed = s.RemoveAbandonedWrites(2000, /*dry_run=*/false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->count, 2u);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/packs/ab/.pgvault-tmp.1.0.a"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/.pgvault-tmp.2.0.b"));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/packs/ab/.pgvault-tmp.3.0.c"));
  EXPECT_EQ(AsString(*s.Get("packs/ab/real")), "x");
}

TEST_F(PosixStorageTest, RejectsKeysThatEscapeTheRoot) {
  PosixStorage s(root_);
  EXPECT_EQ(s.Put("../evil", AsBytes("x")).code(), Code::kInternal);
  EXPECT_EQ(s.Get("/etc/passwd").status().code(), Code::kInternal);
}

}  // namespace
}  // namespace pgvault::storage

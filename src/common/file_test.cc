#include "common/file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace pgvault {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgvault-file-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0700);
    std::filesystem::remove_all(dir_);
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string Read(const std::string& path) const {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(FileTest, AtomicWriteLeavesOnlyTheFile) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("one"), {}).ok());
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("two"), {.sync = false}).ok());
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("three"), {.temp_path = path + ".tmp"}).ok());
  EXPECT_EQ(Read(path), "three");
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// The file size limit makes write(2) short, then fail with EFBIG (for root as well).
TEST_F(FileTest, FailedAtomicWriteKeepsTheOldContent) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("old"), {}).ok());
  auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status s = WriteFileAtomic(path, Bytes(4096, 'n'), {});
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, previous_handler);
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_TRUE(s.message().starts_with("cannot write '" + dir_ + "/.pgvault-tmp.")) << s.message();
  EXPECT_TRUE(s.message().ends_with("': File too large")) << s.message();
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
}

TEST_F(FileTest, PermissionErrorHasAHint) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  ASSERT_EQ(::chmod(dir_.c_str(), 0500), 0);
  Status s = WriteFileAtomic(dir_ + "/f", AsBytes("new"), {});
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_TRUE(s.message().starts_with("cannot create '" + dir_ + "/.pgvault-tmp.")) << s.message();
  EXPECT_EQ(s.hint(), "check the owner and permissions of that path");
}

// Works as root too: the rename fails because a directory holds the name.
TEST_F(FileTest, FailedRenameRemovesTheTempFile) {
  std::string path = dir_ + "/d";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((path + "/inside").c_str(), 0700), 0);
  Status s = WriteFileAtomic(path, AsBytes("new"), {});
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "cannot rename into '" + path + "': Is a directory");
  EXPECT_EQ(Names(), std::vector<std::string>{"d"});
  EXPECT_TRUE(std::filesystem::is_directory(path + "/inside"));
}

TEST_F(FileTest, IfAbsentRefusesAnExistingFile) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("first"), {.if_absent = true}).ok());
  Status s = WriteFileAtomic(path, AsBytes("second"), {.if_absent = true});
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "'" + path + "' already exists");
  EXPECT_EQ(Read(path), "first");
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
}

TEST_F(FileTest, MissingDirectoryIsNotFound) {
  std::string path = dir_ + "/no/f";
  Status s = WriteFileAtomic(path, AsBytes("x"), {.temp_path = path + ".pgvault-tmp"});
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "cannot create '" + path + ".pgvault-tmp': No such file or directory");
}

TEST_F(FileTest, ReadFullStopsAtEndOfFile) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("hello"), {}).ok());
  UniqueFd fd(::open(path.c_str(), O_RDONLY));
  ASSERT_TRUE(fd);
  uint8_t buf[16];
  auto n = ReadFull(fd.get(), buf, path);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "hello");
  n = ReadFull(fd.get(), buf, path);  // at EOF: zero bytes, no error
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = PreadFull(fd.get(), std::span<uint8_t>(buf, 3), 2, path);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "llo");
  n = PreadFull(fd.get(), buf, 100, path);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_F(FileTest, ReadErrorNamesThePath) {
  UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd);
  uint8_t buf[4];
  auto n = ReadFull(fd.get(), buf, dir_);
  EXPECT_EQ(n.status().code(), Code::kIo);
  EXPECT_EQ(n.status().message(), "cannot read '" + dir_ + "': Is a directory");
}

TEST_F(FileTest, WriteFullAndPwriteFull) {
  std::string path = dir_ + "/f";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT, 0600));
  ASSERT_TRUE(fd);
  Bytes big(3 << 20, 'a');  // more than one write(2) moves into a pipe, enough for a file
  ASSERT_TRUE(WriteFull(fd.get(), big, path).ok());
  ASSERT_TRUE(PwriteFull(fd.get(), AsBytes("bc"), 1, path).ok());
  ASSERT_TRUE(fd.Close(path).ok());
  std::string text = Read(path);
  EXPECT_EQ(text.size(), big.size());
  EXPECT_EQ(text.substr(0, 4), "abca");
}

// A pipe takes at most its buffer per write(2): WriteFull must loop over the short writes.
TEST_F(FileTest, WriteFullLoopsOverShortWrites) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd in(fds[0]), out(fds[1]);
  Bytes data(1 << 20);
  for (size_t idx = 0; idx < data.size(); ++idx) data[idx] = static_cast<uint8_t>(idx * 7);
  std::thread writer([&] { EXPECT_TRUE(WriteFull(out.get(), data, "pipe").ok()); });
  Bytes got(data.size());
  auto n = ReadFull(in.get(), got, "pipe");  // the reader side sees short reads too
  writer.join();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(got, data);
}

TEST_F(FileTest, UniqueFdClosesAndMoves) {
  int raw = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw);
    UniqueFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_EQ(::fcntl(raw, F_GETFD), 0);  // still open
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed by the destructor
  EXPECT_EQ(errno, EBADF);
  UniqueFd d(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  int released = d.release();
  EXPECT_FALSE(d);
  EXPECT_EQ(::fcntl(released, F_GETFD), 0);
  ::close(released);
}

TEST_F(FileTest, MakeDirsAndSyncDir) {
  std::string deep = dir_ + "/a/b/c";
  ASSERT_TRUE(MakeDirs(deep, 0700).ok());
  EXPECT_TRUE(std::filesystem::is_directory(deep));
  EXPECT_TRUE(MakeDirs(deep).ok());  // exists: fine
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/file", AsBytes("x"), {}).ok());
  Status s = MakeDirs(dir_ + "/file");
  EXPECT_EQ(s.message(), "'" + dir_ + "/file' exists and is not a directory");
  EXPECT_TRUE(SyncDir(deep).ok());
  Status missing = SyncDir(dir_ + "/nope");
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_EQ(missing.message(),
            "cannot open directory '" + dir_ + "/nope': No such file or directory");
}

TEST(DirNameTest, Cases) {
  EXPECT_EQ(DirName("/a/b"), "/a");
  EXPECT_EQ(DirName("b"), ".");
  EXPECT_EQ(DirName("/b"), "/");
}

}  // namespace
}  // namespace pgvault

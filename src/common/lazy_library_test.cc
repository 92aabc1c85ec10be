#include "common/lazy_library.h"

#include <gtest/gtest.h>

namespace pgvault {
namespace {

TEST(LazyLibraryTest, BindsFunctionsOfALoadedLibrary) {
  LazyLibrary lib("libz.so.1", "zlib1g");
  ASSERT_TRUE(lib.Open().ok());
  const char* (*version)() = nullptr;
  lib.Bind(version, "zlibVersion");
  ASSERT_TRUE(lib.Check().ok());
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version()[0], '1');
}

TEST(LazyLibraryTest, MissingLibraryOrFunctionNamesWhatToInstall) {
  LazyLibrary missing("libpgvault-no-such.so.9", "libpgvault-no-such9");
  Status s = missing.Open();
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("cannot load 'libpgvault-no-such.so.9'"), std::string::npos);
  EXPECT_NE(s.ToString().find("apt-get install libpgvault-no-such9"), std::string::npos);

  LazyLibrary lib("libz.so.1", "zlib1g");
  ASSERT_TRUE(lib.Open().ok());
  void (*fn)() = nullptr;
  lib.Bind(fn, "no_such_function_in_zlib");
  EXPECT_EQ(lib.Check().message(),
            "'libz.so.1' lacks 'no_such_function_in_zlib': it is older than pgvault needs");
}

}  // namespace
}  // namespace pgvault

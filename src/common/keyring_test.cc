#include "common/keyring.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace pgvault::keyring {
namespace {

TEST(KeyringTest, StoredPayloadIsReadBackAndAnUnknownNameFindsNothing) {
  std::string name = "pgvault:test:" + std::to_string(::getpid());
  Bytes payload = {1, 2, 3, 4, 5};
  Store(name, payload, 5);
  auto read = Read(name, 5);
  if (!read) GTEST_SKIP() << "the kernel refuses keyrings here (seccomp?): the cache is off";
  EXPECT_EQ(*read, payload);
  Bytes newer = {9, 9};
  Store(name, newer, 5);  // replaces
  EXPECT_EQ(Read(name, 5), newer);
  EXPECT_FALSE(Read(name + ":other", 5).has_value());
  Store(name, {}, 1);  // an empty payload leaves no secret behind
}

}  // namespace
}  // namespace pgvault::keyring

#include "cli/args.h"

#include <gtest/gtest.h>

#include "cli/help.h"

namespace pgvault::cli {
namespace {

Result<Invocation> Parse(std::vector<const char*> words) {
  words.insert(words.begin(), "pgvault");
  return ParseArgs(static_cast<int>(words.size()), words.data());
}

TEST(ArgsTest, UnknownCommandIsNamedWithTheCommandList) {
  auto r = Parse({"--repo", "/r", "frobnicate"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "unknown command 'frobnicate'");
  EXPECT_TRUE(r.status().hint().starts_with("commands: repo-create, backup, restore, "))
      << r.status().hint();
  auto typo = Parse({"bakup"});
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().message(), "unknown command 'bakup', did you mean 'backup'?");
}

TEST(ArgsTest, UnknownOptionGetsTheNearestName) {
  auto r = Parse({"backup", "--jbos", "3"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "unknown option '--jbos', did you mean '--jobs'?");
}

TEST(ArgsTest, OptionsBeforeAndAfterTheCommand) {
  auto r = Parse({"--repo", "/r", "archive-get", "--prefetch=4", "NAME", "DEST", "--jobs", "3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->command->name, "archive-get");
  EXPECT_EQ(r->positional, (std::vector<std::string>{"NAME", "DEST"}));
  config::FlagValues expected = {{"repo", "/r"}, {"jobs", "3"}, {"prefetch", "4"}};
  EXPECT_EQ(r->flags, expected);
}

TEST(ArgsTest, HelpListsTheCommandsOptionsOnly) {
  auto r = Parse({"backup", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->help);
  std::string help = CommandHelp(*r->command);
  EXPECT_NE(help.find("--pgdata DIR"), std::string::npos) << help;
  EXPECT_NE(help.find("--jobs N"), std::string::npos) << help;
  EXPECT_NE(help.find("(1-256, default 2)"), std::string::npos) << help;
  EXPECT_EQ(help.find("--cipher"), std::string::npos) << help;
  EXPECT_EQ(help.find("--target-time"), std::string::npos) << help;
  std::string global = GlobalHelp();
  EXPECT_NE(global.find("repo-create"), std::string::npos);
  EXPECT_NE(global.find("--config FILE"), std::string::npos);
}

}  // namespace
}  // namespace pgvault::cli

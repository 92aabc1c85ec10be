#include "drill/checks_file.h"

#include <gtest/gtest.h>

namespace pgvault::drill {
namespace {

TEST(ChecksFileTest, ParsesValuesThresholdsAndTimedQueries) {
  auto checks = ParseChecks(R"(
[[check]]
name = "subjects"
database = "exams"
sql = "select count(*) from subjects"
expect = ">= 50"

[[check]]
sql = "select 'x'"
expect = "x"

[[check]]
sql = "select count(*) from users"
expect = 3
max_ms = 250
)",
                            "c.toml");
  ASSERT_TRUE(checks.ok()) << checks.status().message();
  ASSERT_EQ(checks->size(), 3u);
  const UserCheck& a = (*checks)[0];
  EXPECT_EQ(a.name, "subjects");
  EXPECT_EQ(a.database, "exams");
  ASSERT_TRUE(a.expect);
  EXPECT_EQ(a.expect->Describe(), ">= 50");
  EXPECT_TRUE(a.expect->Matches("50"));
  EXPECT_FALSE(a.expect->Matches("49"));
  EXPECT_FALSE(a.expect->Matches("many"));
  EXPECT_EQ((*checks)[1].name, "select 'x'");
  EXPECT_EQ((*checks)[1].database, "postgres");
  EXPECT_TRUE((*checks)[1].expect->Matches("x"));
  EXPECT_FALSE((*checks)[1].expect->Matches("y"));
  EXPECT_TRUE((*checks)[2].expect->Matches("3"));
  EXPECT_EQ((*checks)[2].max_ms, 250);
}

TEST(ChecksFileTest, ThresholdsCompareAsNumbers) {
  EXPECT_TRUE(ParseExpectation("< 10")->Matches("9.5"));
  EXPECT_FALSE(ParseExpectation("> 10")->Matches("10"));
  EXPECT_TRUE(ParseExpectation("<= 10")->Matches("10"));
  EXPECT_TRUE(ParseExpectation("!= 0")->Matches("1"));
  EXPECT_TRUE(ParseExpectation("= 1.0")->Matches("1"));
  auto bad = ParseExpectation(">= many");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "'expect' threshold '>= many' is not a number");
}

TEST(ChecksFileTest, MalformedChecksNameTheFileCheckAndField) {
  auto no_sql = ParseChecks("[[check]]\nexpect = 1\n", "c.toml");
  ASSERT_FALSE(no_sql.ok());
  EXPECT_EQ(no_sql.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(no_sql.status().message(),
            "checks file 'c.toml': check 1: 'sql' is missing or not a string");
  auto no_expect = ParseChecks("[[check]]\nsql = \"select 1\"\n", "c.toml");
  ASSERT_FALSE(no_expect.ok());
  EXPECT_EQ(no_expect.status().message(),
            "checks file 'c.toml': check 1: it has neither 'expect' nor 'max_ms'");
  auto unknown = ParseChecks("[[check]]\nsql = \"select 1\"\nexpected = 1\n", "c.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "checks file 'c.toml': check 1: unknown key 'expected'");
  auto not_toml = ParseChecks("[[check]\n", "c.toml");
  ASSERT_FALSE(not_toml.ok());
  EXPECT_NE(not_toml.status().message().find("checks file 'c.toml' is not valid TOML"),
            std::string::npos);
  EXPECT_FALSE(ParseChecks("[[check]]\nsql = \"select 1\"\nmax_ms = -1\n", "c.toml").ok());
}

}  // namespace
}  // namespace pgvault::drill

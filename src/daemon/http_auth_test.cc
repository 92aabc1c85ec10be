#include "daemon/http_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace pgvault::daemon {
namespace {

TEST(HttpAuthTest, DecodesBasicHeaders) {
  // RFC 7617's example: Aladdin:open sesame.
  EXPECT_EQ(DecodeBasicAuth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "Aladdin:open sesame");
  EXPECT_EQ(DecodeBasicAuth("basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ== "), "Aladdin:open sesame");
  EXPECT_EQ(DecodeBasicAuth("BASIC dTpw"), "u:p");
  EXPECT_EQ(DecodeBasicAuth("Basic dTpwMQ=="), "u:p1");
  EXPECT_EQ(DecodeBasicAuth("Basic dTpwMTI="), "u:p12");
  EXPECT_EQ(DecodeBasicAuth("Bearer dTpw"), std::nullopt);
  EXPECT_EQ(DecodeBasicAuth("Basicx dTpw"), std::nullopt);
  EXPECT_EQ(DecodeBasicAuth("Basic"), std::nullopt);
  EXPECT_EQ(DecodeBasicAuth(""), std::nullopt);
  EXPECT_EQ(DecodeBasicAuth("Basic dTp"), std::nullopt);    // not a multiple of 4
  EXPECT_EQ(DecodeBasicAuth("Basic dT=w"), std::nullopt);   // '=' inside
  EXPECT_EQ(DecodeBasicAuth("Basic dTp*"), std::nullopt);   // not base64
  EXPECT_EQ(DecodeBasicAuth("Basic d===="), std::nullopt);  // too much padding
  EXPECT_EQ(DecodeBasicAuth("Basic dTpw dTpw"), std::nullopt);
}

TEST(HttpAuthTest, MatchesOnlyTheExactPair) {
  EXPECT_TRUE(BasicAuthMatches("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin:open sesame"));
  EXPECT_FALSE(BasicAuthMatches("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin:open sesam"));
  EXPECT_FALSE(BasicAuthMatches("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "aladdin:open sesame"));
  EXPECT_FALSE(BasicAuthMatches("", "u:p"));
  EXPECT_FALSE(BasicAuthMatches("Basic !!!!", "u:p"));
  EXPECT_FALSE(BasicAuthMatches("Basic ", ""));  // nothing matches a missing header
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

class AuthFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, mode_t mode) {
    std::ofstream(path_) << text;
    ::chmod(path_.c_str(), mode);
    return path_;
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "/listen_auth_" + std::to_string(::getpid());
};

TEST_F(AuthFileTest, ReadsUserAndPasswordFromAPrivateFile) {
  auto auth = ReadListenAuthFile(Write("prom:s3cret:with:colons\n", 0600));
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(*auth, "prom:s3cret:with:colons");
  auth = ReadListenAuthFile(Write("prom:pw\r\nignored\n", 0400));
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(*auth, "prom:pw");
}

TEST_F(AuthFileTest, RefusesOpenModesAndBadContentWithoutShowingThePassword) {
  auto open = ReadListenAuthFile(Write("prom:s3cret\n", 0644));
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), Code::kConfig);
  EXPECT_NE(open.status().message().find("accessible by group or others (mode 0644)"),
            std::string::npos)
      << open.status().message();
  EXPECT_EQ(open.status().hint(), "chmod 600 " + path_);
  EXPECT_EQ(open.status().ToString().find("s3cret"), std::string::npos);
  for (const char* bad : {"", "nocolon\n", ":pw\n", "user:\n"}) {
    auto s = ReadListenAuthFile(Write(bad, 0600));
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("USER:PASSWORD"), std::string::npos);
  }
  auto missing = ReadListenAuthFile(path_ + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot be read"), std::string::npos);
}

}  // namespace
}  // namespace pgvault::daemon

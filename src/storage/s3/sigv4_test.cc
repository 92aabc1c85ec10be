// SigV4 against AWS's published vectors: the aws-sig-v4-test-suite (service "service",
// us-east-1, 20150830T123600Z) and the S3 examples of "Signature Calculations for the
// Authorization Header" (examplebucket, 20130524T000000Z).
#include "storage/s3/sigv4.h"

#include <gtest/gtest.h>

namespace pgvault::storage::s3 {
namespace {

const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const Credentials kS3Docs{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kSuiteDate = "20150830T123600Z";
constexpr std::string_view kS3Date = "20130524T000000Z";
constexpr std::string_view kSuiteScope =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

SigningRequest Suite(std::string method, NameValues query = {}, NameValues extra_headers = {},
                     std::string_view body = "") {
  SigningRequest r{.method = std::move(method), .path = "/", .query = std::move(query)};
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", std::string(kSuiteDate)}};
  for (auto& h : extra_headers) r.headers.push_back(h);
  r.payload_hash = Sha256Hex(AsBytes(body));
  return r;
}

std::string SignSuite(const SigningRequest& r, const Credentials& c = kSuite) {
  return Authorization(r, c, "us-east-1", "service", kSuiteDate);
}

SigningRequest S3Docs(std::string method, std::string path, NameValues query,
                      NameValues extra_headers, std::string_view body) {
  SigningRequest r{.method = std::move(method), .path = std::move(path), .query = std::move(query)};
  r.payload_hash = Sha256Hex(AsBytes(body));
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-date", std::string(kS3Date)},
               {"x-amz-content-sha256", r.payload_hash}};
  for (auto& h : extra_headers) r.headers.push_back(h);
  return r;
}

std::string SignS3(const SigningRequest& r) {
  return Authorization(r, kS3Docs, "us-east-1", "s3", kS3Date);
}

TEST(SigV4Test, GetVanillaCanonicalRequestAndStringToSign) {
  SigningRequest r = Suite("GET");
  std::string signed_headers;
  std::string canonical = CanonicalRequest(r, signed_headers);
  EXPECT_EQ(canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signed_headers, "host;x-amz-date");
  EXPECT_EQ(StringToSign(kSuiteDate, Scope(kSuiteDate, "us-east-1", "service"), canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
}

TEST(SigV4Test, GetVanilla) {
  EXPECT_EQ(SignSuite(Suite("GET")),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, PostVanilla) {
  EXPECT_EQ(SignSuite(Suite("POST")),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Test, GetVanillaQueryOrderKeyCase) {
  SigningRequest r = Suite("GET", {{"Param2", "value2"}, {"Param1", "value1"}});
  std::string signed_headers;
  EXPECT_EQ(StringToSign(kSuiteDate, Scope(kSuiteDate, "us-east-1", "service"),
                         CanonicalRequest(r, signed_headers)),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(SignSuite(r),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, GetVanillaQueryUnreserved) {
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(SignSuite(Suite("GET", {{unreserved, unreserved}})),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

TEST(SigV4Test, GetVanillaUtf8Query) {
  EXPECT_EQ(SignSuite(Suite("GET", {{"\xe1\x88\xb4", "bar"}})),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

TEST(SigV4Test, PostVanillaQueryNonunreservedAndEmptyValue) {
  SigningRequest r = Suite("POST", {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}});
  EXPECT_EQ(CanonicalQuery(r.query),
            "%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E=");
  EXPECT_EQ(SignSuite(r),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e");
}

TEST(SigV4Test, PostXWwwFormUrlencodedSignsBodyAndContentType) {
  SigningRequest r =
      Suite("POST", {}, {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1");
  EXPECT_EQ(SignSuite(r),
            std::string(kSuiteScope) +
                "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4Test, PostStsHeaderBeforeSignsSessionToken) {
  SigningRequest r = Suite(
      "POST", {},
      {{"X-Amz-Security-Token",
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfp"
        "SPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQ"
        "DYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
        "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="}});
  EXPECT_EQ(SignSuite(r),
            std::string(kSuiteScope) +
                "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

TEST(SigV4Test, S3GetObjectWithRange) {
  SigningRequest r = S3Docs("GET", "/test.txt", {}, {{"Range", "bytes=0-9"}}, "");
  std::string signed_headers;
  EXPECT_EQ(
      CanonicalRequest(r, signed_headers),
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(SignS3(r),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, S3PutObjectWithEncodedPath) {
  EXPECT_EQ(UriEncode("/test$file.text", false), "/test%24file.text");
  SigningRequest r = S3Docs(
      "PUT", UriEncode("/test$file.text", false), {},
      {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
      "Welcome to Amazon S3.");
  EXPECT_EQ(SignS3(r),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3GetBucketLifecycleSignsEmptyValue) {
  SigningRequest r = S3Docs("GET", "/", {{"lifecycle", ""}}, {}, "");
  EXPECT_EQ(CanonicalQuery(r.query), "lifecycle=");
  EXPECT_NE(
      SignS3(r).find("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
      std::string::npos);
}

TEST(SigV4Test, S3ListObjectsSortsQuery) {
  SigningRequest r = S3Docs("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, "");
  EXPECT_EQ(CanonicalQuery(r.query), "max-keys=2&prefix=J");
  EXPECT_NE(
      SignS3(r).find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
      std::string::npos);
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndCollapsed) {
  SigningRequest r = Suite("GET", {}, {{"My-Header1", "  a   b  c "}, {"my-header1", "d"}});
  std::string signed_headers;
  std::string canonical = CanonicalRequest(r, signed_headers);
  EXPECT_NE(canonical.find("\nmy-header1:a b c,d\n"), std::string::npos) << canonical;
  EXPECT_EQ(signed_headers, "host;my-header1;x-amz-date");
}

TEST(SigV4Test, Helpers) {
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
  EXPECT_EQ(UriEncode("a b/c+d~", true), "a%20b%2Fc%2Bd~");
  EXPECT_EQ(UriEncode("a b/c+d~", false), "a%20b/c%2Bd~");
  // RFC 1321 test vector: MD5("") = d41d8cd98f00b204e9800998ecf8427e.
  EXPECT_EQ(ContentMd5(AsBytes("")), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(Sha256Hex(AsBytes("")), kEmptySha256);
  // RFC 4231 test case 2.
  EXPECT_EQ(ToHex(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace pgvault::storage::s3

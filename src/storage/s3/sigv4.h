// AWS Signature Version 4 for S3 requests (header-based authentication), written by hand on
// OpenSSL's SHA-256 and HMAC: no Debian 12 package offers a C or C++ SigV4 signer (the AWS SDK for
// C++ and aws-c-auth are not packaged), and the algorithm is small. Pure functions, thread-safe.
//
// Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// Tested against AWS's published test suite and the S3 GET example (sigv4_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace pgvault::storage::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials; sent as x-amz-security-token
};

using NameValues = std::vector<std::pair<std::string, std::string>>;

// One request as SigV4 sees it. Every header listed here is signed, so list only those the
// server must not see altered (host, x-amz-*, content-md5, range) and send exactly these values.
struct SigningRequest {
  std::string method;        // "GET", "PUT", ...
  std::string path;          // URI-encoded path as sent on the wire, e.g. "/bucket/a%20b"
  NameValues query;          // decoded names and values, any order; empty value = "name="
  NameValues headers;        // any case and order; must include host and x-amz-date
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// Percent-encodes everything but A-Z a-z 0-9 - . _ ~ (and '/' unless encode_slash), with
// upper-case hex digits, as SigV4 and S3 object paths want.
std::string UriEncode(std::string_view s, bool encode_slash);
// "a=1&b=&c=x%2Fy": names and values encoded, sorted by encoded name then value.
std::string CanonicalQuery(const NameValues& query);
// The canonical request; sets signed_headers to "host;range;x-amz-date" style.
std::string CanonicalRequest(const SigningRequest& request, std::string& signed_headers);
// "20150830/us-east-1/service/aws4_request" for amz_date "20150830T123600Z".
std::string Scope(std::string_view amz_date, std::string_view region, std::string_view service);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// The Authorization header's value: "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=<64 hex>". amz_date must equal the request's x-amz-date header.
std::string Authorization(const SigningRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::string_view amz_date);

// "20150830T123600Z" for a Unix time.
std::string AmzDate(int64_t unix_seconds);
std::string Sha256Hex(ByteView data);
Bytes HmacSha256(ByteView key, ByteView data);
// Base64 of the MD5 digest, the value of a Content-MD5 header.
std::string ContentMd5(ByteView data);

// The hex SHA-256 of an empty payload.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace pgvault::storage::s3

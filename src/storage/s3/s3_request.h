// Internal to the S3 driver: one request as S3Storage's methods describe it (Call) and its
// answer (Reply), and the small helpers that s3_storage.cc (requests, reads, listing, deletes)
// and s3_upload.cc (single and multipart PUTs, object lock settings) share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "storage/s3/http_client.h"
#include "storage/s3/s3_storage.h"

namespace pgvault::storage::s3 {

struct S3Storage::Call {
  std::string method;
  std::string object;   // full object name, prefix included; "" addresses the bucket
  std::string display;  // name for messages when not the object's, e.g. a listed prefix
  NameValues query;     // decoded
  NameValues headers;   // sent and signed
  ByteView body;
  bool sign_body = false;  // x-amz-content-sha256 = SHA-256 of the body (small XML bodies)
  std::string content_type;
};

struct S3Storage::Reply {
  HttpResponse http;
  int attempts = 0;
  std::string code;     // <Code> of an error body, e.g. "NoSuchKey"
  std::string message;  // <Message> of an error body; Ceph mostly leaves it empty
  bool ok() const { return http.status >= 200 && http.status < 300; }
};

constexpr uint64_t kMaxParts = 10000;  // S3's limit on the parts of one upload
constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// kInternal for a key the Storage contract forbids (empty, absolute, with "..").
Status ValidateKey(std::string_view key);

struct Md5 {
  std::string base64;  // Content-MD5 header value
  std::string hex;     // what a single PUT's ETag is
};
Md5 ComputeMd5(ByteView data);

// An ETag without its double quotes.
std::string Unquote(std::string s);

}  // namespace pgvault::storage::s3

#include "storage/s3/sigv4.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cassert>
#include <map>

#include "common/time.h"

namespace pgvault::storage::s3 {
namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Header values are signed trimmed, with runs of spaces inside collapsed to one.
std::string TrimAll(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (Unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string CanonicalQuery(const NameValues& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query)
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string CanonicalRequest(const SigningRequest& request, std::string& signed_headers) {
  // std::map sorts by lower-case name; repeated headers join with ',' in the order given.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string& slot = headers[Lower(name)];
    if (!slot.empty()) slot.push_back(',');
    slot += TrimAll(value);
  }
  std::string canonical_headers;
  signed_headers.clear();
  for (const auto& [name, value] : headers) {
    canonical_headers.append(name).append(":").append(value).append("\n");
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }
  // S3 signs the path exactly as sent (no second encoding, no dot-segment removal).
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method,
                     request.path.empty() ? "/" : request.path, CanonicalQuery(request.query),
                     canonical_headers, signed_headers, request.payload_hash);
}

std::string Scope(std::string_view amz_date, std::string_view region, std::string_view service) {
  return fmt::format("{}/{}/{}/aws4_request", amz_date.substr(0, 8), region, service);
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  return fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date, scope,
                     Sha256Hex(AsBytes(canonical_request)));
}

std::string Authorization(const SigningRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::string_view amz_date) {
  assert(amz_date.size() == 16 && "amz_date must look like 20150830T123600Z");
  std::string signed_headers;
  std::string canonical = CanonicalRequest(request, signed_headers);
  std::string scope = Scope(amz_date, region, service);
  std::string to_sign = StringToSign(amz_date, scope, canonical);

  std::string secret = "AWS4" + credentials.secret_access_key;
  Bytes key = HmacSha256(AsBytes(secret), AsBytes(amz_date.substr(0, 8)));
  key = HmacSha256(key, AsBytes(region));
  key = HmacSha256(key, AsBytes(service));
  key = HmacSha256(key, AsBytes("aws4_request"));
  std::string signature = ToHex(HmacSha256(key, AsBytes(to_sign)));
  OPENSSL_cleanse(secret.data(), secret.size());
  OPENSSL_cleanse(key.data(), key.size());
  return fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                     credentials.access_key_id, scope, signed_headers, signature);
}

std::string AmzDate(int64_t unix_seconds) {
  std::string iso = FormatIsoSeconds(unix_seconds);  // "2015-08-30T12:36:00Z"
  std::erase_if(iso, [](char c) { return c == '-' || c == ':'; });
  return iso;
}

std::string Sha256Hex(ByteView data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  return ToHex(ByteView(digest, sizeof digest));
}

Bytes HmacSha256(ByteView key, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  uint8_t* ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(),
                     data.size(), out.data(), &len);
  assert(ok != nullptr && "HMAC-SHA256 cannot fail with valid arguments");
  (void)ok;
  out.resize(len);
  return out;
}

std::string ContentMd5(ByteView data) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), digest, static_cast<int>(len));
  return std::string(b64, static_cast<size_t>(n));
}

}  // namespace pgvault::storage::s3

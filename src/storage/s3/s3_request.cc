#include "storage/s3/s3_request.h"

#include <fmt/format.h>
#include <openssl/evp.h>

namespace pgvault::storage::s3 {

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos)
    return Status::Internal(fmt::format("invalid storage key '{}'", key));
  return Status::Ok();
}

Md5 ComputeMd5(ByteView data) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  char b64[64];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), digest, static_cast<int>(len));
  return Md5{std::string(b64, static_cast<size_t>(n)), ToHex(ByteView(digest, len))};
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace pgvault::storage::s3

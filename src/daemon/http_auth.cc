#include "daemon/http_auth.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdint>
#include <fstream>

#include "pipeline/crypto.h"

namespace pgvault::daemon {
namespace {

// The value of one base64 character (RFC 4648, standard alphabet), or -1.
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict: a multiple of 4 characters, '=' only as the last one or two.
std::optional<std::string> DecodeBase64(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < in.size() && in[in.size() - 1 - padding] == '=') padding++;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size() - padding; i++) {
    int v = Base64Value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

Status AuthFileError(const std::string& path, const std::string& what, std::string hint) {
  return std::move(Status::Config(fmt::format("listen auth file '{}' {}", path, what)))
      .WithHint(std::move(hint));
}

}  // namespace

Result<std::string> ReadListenAuthFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return AuthFileError(path, "cannot be read",
                         "check --listen-auth-file and the file's permissions");
  // As with key files: a password that others can read is no longer a secret.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    return AuthFileError(
        path, fmt::format("is accessible by group or others (mode {:04o})", st.st_mode & 07777),
        fmt::format("chmod 600 {}", path));
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size())
    return AuthFileError(path, "does not hold USER:PASSWORD on its first line",
                         "write one line such as 'prometheus:<a long random password>'");
  return line;
}

std::optional<std::string> DecodeBasicAuth(std::string_view header) {
  while (!header.empty() && IsSpace(header.front())) header.remove_prefix(1);
  while (!header.empty() && IsSpace(header.back())) header.remove_suffix(1);
  constexpr std::string_view kScheme = "basic";
  if (header.size() <= kScheme.size() || !IsSpace(header[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); i++)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  header.remove_prefix(kScheme.size());
  while (!header.empty() && IsSpace(header.front())) header.remove_prefix(1);
  return DecodeBase64(header);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Hashing first makes the work independent of where (and whether) the lengths differ.
  pipeline::Digest da = pipeline::Sha256(AsBytes(a));
  pipeline::Digest db = pipeline::Sha256(AsBytes(b));
  uint8_t diff = 0;
  for (size_t i = 0; i < da.size(); i++) diff |= static_cast<uint8_t>(da[i] ^ db[i]);
  return diff == 0;
}

bool BasicAuthMatches(std::string_view header, std::string_view expected) {
  std::optional<std::string> given = DecodeBasicAuth(header);
  // A malformed header still costs one comparison, so its timing says nothing either.
  return ConstantTimeEquals(given.value_or(std::string()), expected) && given.has_value();
}

}  // namespace pgvault::daemon

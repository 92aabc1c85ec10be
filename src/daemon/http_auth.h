// Optional HTTP Basic auth for the daemon's listener (/metrics and the status page): the
// expected "user:password" comes from --listen-auth-file (mode 0600, as a key file); a request
// passes when its Authorization header holds the same pair. The comparison takes the same time
// wherever the two differ, and nothing here logs or returns the password.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgvault::daemon {

// The realm the 401 response names in WWW-Authenticate.
inline constexpr char kAuthChallenge[] = "Basic realm=\"pgvault\", charset=\"UTF-8\"";

// Reads "user:password" (the first line; a trailing newline is dropped). kConfig when the file
// is missing, readable by group or others, empty, or has no ':' or an empty user.
Result<std::string> ReadListenAuthFile(const std::string& path);

// "Basic dXNlcjpwYXNz" -> "user:pass"; nullopt for another scheme or bad base64. The scheme is
// case-insensitive (RFC 7617).
std::optional<std::string> DecodeBasicAuth(std::string_view header);

// Equality of a and b in time that depends on neither's content (both are hashed first).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// True when header (the Authorization value) carries exactly `expected` ("user:password").
bool BasicAuthMatches(std::string_view header, std::string_view expected);

}  // namespace pgvault::daemon

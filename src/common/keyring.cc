#include "common/keyring.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace pgvault::keyring {
namespace {

// From <linux/keyctl.h>, which Debian ships without a C++-friendly wrapper.
constexpr long kUserKeyring = -4;  // KEY_SPEC_USER_KEYRING
constexpr long kKeyctlSetPerm = 5;
constexpr long kKeyctlSearch = 10;
constexpr long kKeyctlRead = 11;
constexpr long kKeyctlSetTimeout = 15;
// Possessor and user: view, read, write, search, link, setattr. Group and others: nothing.
constexpr long kOwnerOnly = 0x3f3f0000;
constexpr const char* kType = "user";

long Keyctl(long op, long a, long b = 0, long c = 0, long d = 0) {
  return ::syscall(SYS_keyctl, op, a, b, c, d);
}

}  // namespace

std::optional<Bytes> Read(std::string_view description, int timeout_seconds) {
  std::string desc(description);
  long id = Keyctl(kKeyctlSearch, kUserKeyring, reinterpret_cast<long>(kType),
                   reinterpret_cast<long>(desc.c_str()), 0);
  if (id < 0) return std::nullopt;
  Bytes payload(256);
  long n = Keyctl(kKeyctlRead, id, reinterpret_cast<long>(payload.data()),
                  static_cast<long>(payload.size()));
  if (n < 0 || static_cast<size_t>(n) > payload.size()) return std::nullopt;
  payload.resize(static_cast<size_t>(n));
  Keyctl(kKeyctlSetTimeout, id, timeout_seconds);
  return payload;
}

void Store(std::string_view description, ByteView payload, int timeout_seconds) {
  std::string desc(description);
  long id =
      ::syscall(SYS_add_key, kType, desc.c_str(), payload.data(), payload.size(), kUserKeyring);
  if (id < 0) return;
  Keyctl(kKeyctlSetPerm, id, kOwnerOnly);
  Keyctl(kKeyctlSetTimeout, id, timeout_seconds);
}

}  // namespace pgvault::keyring

// A small cache of secrets in the Linux kernel's per-user keyring (keyrings(7)): kernel memory,
// never written to disk or swap, readable only by processes of the same user, gone after its
// timeout or a reboot. archive-push and archive-get run once per WAL segment; with a passphrase
// each would spend ~80 ms in scrypt (docs/design.md, "Key cache"). Written against the raw
// add_key/keyctl system calls: libkeyutils would wrap the same four calls.
//
// Best effort: where the kernel or a seccomp profile refuses keyrings, Read finds nothing and
// Store does nothing. Thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "common/bytes.h"

namespace pgvault::keyring {

// The payload stored under description in the user keyring, if any; renews its timeout.
std::optional<Bytes> Read(std::string_view description, int timeout_seconds);

// Stores payload under description in the user keyring (replacing an older one), readable and
// writable by this user only, expiring timeout_seconds after its last use.
void Store(std::string_view description, ByteView payload, int timeout_seconds);

}  // namespace pgvault::keyring

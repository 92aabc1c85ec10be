// Thin wrappers over OpenSSL 3 for the primitives the repository format uses: SHA-256,
// HMAC-SHA-256 block ids, AES-256-GCM sealing, scrypt and HKDF key derivation.
// All functions are thread-safe. Key material lives in SecretKey, which wipes itself.
#pragma once

#include <array>
#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault::pipeline {

using Digest = std::array<uint8_t, 32>;
constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = kNonceSize + kTagSize;

// 32 bytes of key material, zeroed on destruction.
class SecretKey {
 public:
  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(ByteView b);
  ~SecretKey();
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  const uint8_t* data() const { return bytes_.data(); }
  ByteView view() const { return {bytes_.data(), bytes_.size()}; }

 private:
  std::array<uint8_t, kKeySize> bytes_;
};

// Overwrite memory that held a secret (a passphrase, a key file's text, an unwrapped key) before
// it is freed or reused; the compiler cannot drop these writes.
void Wipe(std::string& text);
void Wipe(Bytes& bytes);

Bytes RandomBytes(size_t n);
Digest Sha256(ByteView data);

// Incremental SHA-256.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  void Update(ByteView data);
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HMAC-SHA-256 with a fixed key; each thread should own one (not thread-safe itself).
class Hmac {
 public:
  explicit Hmac(const SecretKey& key);
  ~Hmac();
  Digest Compute(ByteView data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// AES-256-GCM: output = nonce(12) || ciphertext || tag(16). The nonce is random per call:
// with 96-bit random nonces a key is safe for far more than 2^32 seals (NIST SP 800-38D 8.3).
Bytes Seal(const SecretKey& key, ByteView plaintext, ByteView aad);
// Seal without copies: out[from..] holds the plaintext; on return out[from-kNonceSize..] is
// nonce || ciphertext || tag. The caller leaves kNonceSize bytes free before from.
void SealInPlace(const SecretKey& key, Bytes& out, size_t from, ByteView aad);
// kCorruption when the tag does not verify (wrong key, wrong aad or damaged bytes).
Result<Bytes> Open(const SecretKey& key, ByteView sealed, ByteView aad);

struct ScryptParams {
  uint64_t n = 1 << 15;
  uint64_t r = 8;
  uint64_t p = 1;
};
Result<SecretKey> Scrypt(std::string_view passphrase, ByteView salt, const ScryptParams& params);
SecretKey Hkdf(ByteView input_key, ByteView salt, std::string_view info);

}  // namespace pgvault::pipeline

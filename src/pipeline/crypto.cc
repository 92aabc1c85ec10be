#include "pipeline/crypto.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>

#include "common/log.h"

namespace pgvault::pipeline {
namespace {

// OpenSSL failing on these calls means memory exhaustion or a broken library: not a user error,
// and nothing a caller could do about it. Like a failed assert, it ends the process with a
// message (a throw would std::terminate without one in a worker thread). Returning a Status
// instead would put a Result on every hash, seal and HMAC of the hot paths for an event that
// cannot happen while the process has memory: the functions that can fail on input (Open,
// Scrypt) return a Status.
[[noreturn]] void Fatal(const char* what) { log::Abort(fmt::format("openssl: {} failed", what)); }

const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

// One cipher context per thread, re-initialized for every seal or open: a backup seals one
// small blob per 128 KiB block and a restore opens as many.
EVP_CIPHER_CTX* ThreadCipherContext() {
  struct Holder {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~Holder() { EVP_CIPHER_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (!holder.ctx) Fatal("EVP_CIPHER_CTX_new");
  return holder.ctx;
}

}  // namespace

SecretKey::SecretKey(ByteView b) {
  bytes_.fill(0);
  std::memcpy(bytes_.data(), b.data(), std::min(b.size(), bytes_.size()));
}
SecretKey::~SecretKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

void Wipe(std::string& text) { OPENSSL_cleanse(text.data(), text.size()); }
void Wipe(Bytes& bytes) { OPENSSL_cleanse(bytes.data(), bytes.size()); }

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) Fatal("RAND_bytes");
  return out;
}

Digest Sha256(ByteView data) {
  Digest d;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), d.data(), &len, Sha256Md(), nullptr) != 1)
    Fatal("EVP_Digest");
  return d;
}

struct Sha256Stream::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};
Sha256Stream::Sha256Stream() : impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, Sha256Md(), nullptr) != 1)
    Fatal("EVP_DigestInit");
}
Sha256Stream::~Sha256Stream() = default;
void Sha256Stream::Update(ByteView data) {
  if (EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) != 1) Fatal("EVP_DigestUpdate");
}
Digest Sha256Stream::Finish() {
  Digest d;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, d.data(), &len) != 1) Fatal("EVP_DigestFinal");
  return d;
}

struct Hmac::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;  // initialized with the key; duplicated per computation
  ~Impl() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

Hmac::Hmac(const SecretKey& key) : impl_(std::make_unique<Impl>()) {
  impl_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!impl_->mac) Fatal("EVP_MAC_fetch");
  impl_->keyed = EVP_MAC_CTX_new(impl_->mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!impl_->keyed || EVP_MAC_init(impl_->keyed, key.data(), kKeySize, params) != 1)
    Fatal("EVP_MAC_init");
}
Hmac::~Hmac() = default;

Digest Hmac::Compute(ByteView data) {
  // Re-initializing with no key restores the keyed state: cheaper than a context per call.
  EVP_MAC_CTX* ctx = impl_->keyed;
  Digest d;
  size_t len = 0;
  bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 &&
            EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
            EVP_MAC_final(ctx, d.data(), &len, d.size()) == 1;
  if (!ok) Fatal("EVP_MAC_update");
  return d;
}

Bytes Seal(const SecretKey& key, ByteView plaintext, ByteView aad) {
  Bytes out;
  out.reserve(kNonceSize + plaintext.size() + kTagSize);
  out.resize(kNonceSize);
  out.insert(out.end(), plaintext.begin(), plaintext.end());
  SealInPlace(key, out, kNonceSize, aad);
  return out;
}

void SealInPlace(const SecretKey& key, Bytes& out, size_t from, ByteView aad) {
  uint8_t* nonce = out.data() + from - kNonceSize;
  if (RAND_bytes(nonce, kNonceSize) != 1) Fatal("RAND_bytes");
  size_t size = out.size() - from;
  EVP_CIPHER_CTX* ctx = ThreadCipherContext();
  int len = 0, final_len = 0;
  // GCM is a stream mode: OpenSSL encrypts in place when input and output are the same.
  bool ok = EVP_EncryptInit_ex2(ctx, Aes256Gcm(), key.data(), nonce, nullptr) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(),
                                              static_cast<int>(aad.size())) == 1) &&
            EVP_EncryptUpdate(ctx, out.data() + from, &len, out.data() + from,
                              static_cast<int>(size)) == 1 &&
            EVP_EncryptFinal_ex(ctx, out.data() + from + len, &final_len) == 1;
  if (!ok) Fatal("AES-256-GCM encrypt");
  out.resize(out.size() + kTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, out.data() + from + size) != 1)
    Fatal("AES-256-GCM tag");
}

Result<Bytes> Open(const SecretKey& key, ByteView sealed, ByteView aad) {
  if (sealed.size() < kSealOverhead) return Status::Corruption("sealed data is truncated");
  size_t ct_len = sealed.size() - kSealOverhead;
  Bytes out(ct_len);
  EVP_CIPHER_CTX* ctx = ThreadCipherContext();
  int len = 0;
  bool ok = EVP_DecryptInit_ex2(ctx, Aes256Gcm(), key.data(), sealed.data(), nullptr) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(),
                                              static_cast<int>(aad.size())) == 1) &&
            EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data() + kNonceSize,
                              static_cast<int>(ct_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize,
                                const_cast<uint8_t*>(sealed.data() + kNonceSize + ct_len)) == 1 &&
            EVP_DecryptFinal_ex(ctx, out.data() + len, &len) == 1;
  if (!ok) return Status::Corruption("authentication tag mismatch");
  return out;
}

Result<SecretKey> Scrypt(std::string_view passphrase, ByteView salt, const ScryptParams& params) {
  uint8_t key[kKeySize];
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), params.n,
                     params.r, params.p, 256ull << 20, key, sizeof key) != 1)
    return Status::Crypto("scrypt key derivation failed (parameters out of range?)");
  SecretKey out({key, sizeof key});
  OPENSSL_cleanse(key, sizeof key);
  return out;
}

SecretKey Hkdf(ByteView input_key, ByteView salt, std::string_view info) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(input_key.data()),
                                        input_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  uint8_t key[kKeySize];
  bool ok = ctx && EVP_KDF_derive(ctx, key, sizeof key, params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  if (!ok) Fatal("HKDF");
  SecretKey out({key, sizeof key});
  OPENSSL_cleanse(key, sizeof key);
  return out;
}

}  // namespace pgvault::pipeline

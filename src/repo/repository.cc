#include "repo/repository.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/file.h"
#include "common/keyring.h"
#include "common/time.h"
#include "repo/layout.h"

namespace pgvault::repo {
namespace {

using json = nlohmann::json;
using pipeline::SecretKey;

std::string WrapAad(const std::string& repo_id) { return "pgvault-master-key:" + repo_id; }

Status NoRepository(const storage::Storage& storage) {
  return std::move(Status::Config(fmt::format("no pgvault repository at '{}'", storage.Describe())))
      .WithHint(fmt::format("create one with: pgvault --repo {} repo-create", storage.Describe()));
}

// Creates a key file with 32 random bytes (hex) and returns them.
Result<std::string> CreateKeyFile(const std::string& path) {
  Bytes random = pipeline::RandomBytes(32);
  std::string secret = ToHex(random);
  pipeline::Wipe(random);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Status::Io(fmt::format("cannot create key file '{}'", path));
  std::string line = secret + "\n";
  bool ok = ::write(fd.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd.get()) == 0;
  pipeline::Wipe(line);
  if (!ok) return Status::Io(fmt::format("cannot write key file '{}'", path));
  return secret;
}

// Reads the key file, creating it with 32 random bytes (hex) when create_missing is set. The
// caller wipes the returned text (pipeline::Wipe) once it has derived the key.
Result<std::string> ReadKeyFile(const std::string& path, bool create_missing) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (!create_missing || errno != ENOENT)
      return std::move(Status::Config(fmt::format("cannot read key file '{}'", path)))
          .WithHint("check the path and its permissions");
    return CreateKeyFile(path);
  }
  // As ssh does with private keys: a key that others can read is no longer a secret.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return std::move(Status::Config(fmt::format("cannot read key file '{}'", path)))
        .WithHint("check the path and its permissions");
  if ((st.st_mode & 0077) != 0)
    return std::move(Status::Config(
                         fmt::format("key file '{}' is accessible by group or others (mode {:04o})",
                                     path, st.st_mode & 07777)))
        .WithHint(fmt::format("chmod 600 {}", path));
  // Read straight into the string the caller wipes: no stream buffer keeps a copy.
  std::string secret(static_cast<size_t>(st.st_size), '\0');
  auto got = ReadFull(fd.get(), {reinterpret_cast<uint8_t*>(secret.data()), secret.size()}, path);
  if (!got.ok()) {
    pipeline::Wipe(secret);
    return std::move(Status::Config(fmt::format("cannot read key file '{}'", path)))
        .WithHint("check the path and its permissions");
  }
  secret.resize(*got);
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())))
    secret.pop_back();
  if (secret.size() < kMinSecretChars) {
    pipeline::Wipe(secret);
    return std::move(Status::Config(fmt::format("key file '{}' holds fewer than {} characters",
                                                path, kMinSecretChars)))
        .WithHint("use a key file with at least 32 random bytes, or let repo-create make one");
  }
  return secret;
}

// The key-encryption key of a key file's text (wiped here).
SecretKey KeyFileKek(std::string& content, ByteView salt) {
  SecretKey kek = pipeline::Hkdf(AsBytes(content), salt, "pgvault key file v1");
  pipeline::Wipe(content);
  return kek;
}

// The key-encryption key and the parameters that re-derive it.
struct Kek {
  SecretKey key;
  json params;
};

Result<Kek> DeriveNewKek(const Secret& secret, bool create_key_file) {
  Bytes salt = pipeline::RandomBytes(16);
  if (!secret.key_file_path.empty()) {
    PGV_ASSIGN_OR_RETURN(std::string content, ReadKeyFile(secret.key_file_path, create_key_file));
    // A key file is high-entropy already: HKDF suffices and keeps archive-push fast.
    return Kek{KeyFileKek(content, salt), json{{"kdf", "hkdf-sha256"}, {"salt", ToHex(salt)}}};
  }
  // One rule for both kinds of secret; existing repositories with shorter passphrases still open
  // (DeriveKek), only new key objects are held to it.
  if (secret.passphrase.size() < kMinSecretChars)
    return std::move(Status::Config(fmt::format("the passphrase holds fewer than {} characters",
                                                kMinSecretChars)))
        .WithHint(fmt::format("use a passphrase of at least {} characters (PGVAULT_PASSPHRASE; "
                              "key-add: PGVAULT_NEW_PASSPHRASE), or a key file",
                              kMinSecretChars));
  pipeline::ScryptParams sp;
  PGV_ASSIGN_OR_RETURN(SecretKey key, pipeline::Scrypt(secret.passphrase, salt, sp));
  return Kek{key,
             json{{"kdf", "scrypt"}, {"n", sp.n}, {"r", sp.r}, {"p", sp.p}, {"salt", ToHex(salt)}}};
}

// How long a passphrase's key-encryption key stays in the kernel keyring after its last use.
constexpr int kKekCacheSeconds = 900;

// cache_as (may be null) is set to the keyring name to store a freshly derived key under.
Result<SecretKey> DeriveKek(const Secret& secret, const json& params,
                            std::string* cache_as = nullptr) {
  Bytes salt;
  if (!FromHex(params.value("salt", ""), salt)) return Status::Corruption("key object: bad salt");
  std::string kdf = params.value("kdf", "");
  if (kdf == "hkdf-sha256") {
    if (secret.key_file_path.empty()) return Status::Crypto("key object needs a key file");
    PGV_ASSIGN_OR_RETURN(std::string content, ReadKeyFile(secret.key_file_path, false));
    return KeyFileKek(content, salt);
  }
  if (kdf == "scrypt") {
    if (secret.passphrase.empty()) return Status::Crypto("key object needs a passphrase");
    pipeline::ScryptParams sp{params.value("n", 0ull), params.value("r", 0ull),
                              params.value("p", 0ull)};
    // The cache entry is named by this passphrase with this key object's salt and parameters,
    // so another passphrase never finds it (docs/design.md, "Key cache").
    std::string cache_name;
    if (secret.cache_kek) {
      std::string named = fmt::format("pgvault kek cache v1\n{}\n{}/{}/{}\n{}", ToHex(salt), sp.n,
                                      sp.r, sp.p, secret.passphrase);
      cache_name = "pgvault:kek:" + ToHex(pipeline::Sha256(AsBytes(named))).substr(0, 32);
      pipeline::Wipe(named);
      if (auto cached = keyring::Read(cache_name, kKekCacheSeconds)) {
        std::optional<SecretKey> kek;
        if (cached->size() == pipeline::kKeySize) kek.emplace(*cached);
        pipeline::Wipe(*cached);
        if (kek) return *kek;
      }
    }
    // Stored by the caller once the key unwraps: a wrong passphrase's key is not kept.
    if (cache_as) *cache_as = cache_name;
    return pipeline::Scrypt(secret.passphrase, salt, sp);
  }
  return Status::Corruption(fmt::format("key object: unknown kdf '{}'", kdf));
}

// The own checksum of the config and of a key object: SHA-256 over the compact JSON of every other
// field (nlohmann sorts object keys, so the text is canonical). Plaintext JSON has no other
// integrity check, and a flipped digit in repo_id, id_key or a wrapped key would otherwise read as
// a wrong passphrase or as every block being damaged. Objects written before the field lack it and
// are read as before.
std::string OwnChecksum(json j, std::string_view key) {
  j.erase("checksum");
  // The object's own name goes first: a key object copied over another one fails too.
  return ToHex(pipeline::Sha256(AsBytes(fmt::format("{}\n{}", key, j.dump()))));
}

Status WriteKeyObject(storage::Storage& storage, const std::string& repo_id,
                      const SecretKey& master, const Secret& secret, bool create_key_file) {
  PGV_ASSIGN_OR_RETURN(Kek kek, DeriveNewKek(secret, create_key_file));
  json obj = kek.params;
  obj["wrapped"] = ToHex(pipeline::Seal(kek.key, master.view(), AsBytes(WrapAad(repo_id))));
  obj["created"] = FormatIsoMicros(NowUnixMicros());
  std::string key_id = ToHex(pipeline::RandomBytes(8));
  obj["checksum"] = OwnChecksum(obj, KeyFileKey(key_id));  // verify tells damage without the secret
  std::string text = obj.dump(2);
  return storage.Put(KeyFileKey(key_id), AsBytes(text), {.if_absent = true, .owner_only = true});
}

json ConfigToJson(const RepoConfig& c, const std::optional<SecretKey>& plain_id_key) {
  json j{{"format", c.format},
         {"repo_id", c.repo_id},
         {"cipher", c.params.encrypted ? "aes-256-gcm" : "none"},
         {"compression", pipeline::CompressionName(c.params.compression)},
         {"compression_level", c.params.compression_level},
         {"block_size", c.params.block_size},
         {"pack_size", c.params.pack_size},
         {"object_lock", c.params.object_lock},
         {"created", FormatIsoMicros(c.created_unix_micros)},
         {"created_unix_micros", c.created_unix_micros}};
  // An unencrypted repository keeps its block-id key in the clear: ids then only deduplicate.
  if (plain_id_key) j["id_key"] = ToHex(plain_id_key->view());
  return j;
}

// The master key of an encrypted repository, unwrapped from the first key object the secret
// opens; kCrypto naming the repository when none does.
Result<SecretKey> UnwrapMasterKey(storage::Storage& storage, const Secret& secret,
                                  const std::string& repo_id) {
  if (secret.empty())
    return std::move(Status::Config(fmt::format(
                         "repository '{}' is encrypted and no passphrase or key file was given",
                         storage.Describe())))
        .WithHint("set PGVAULT_PASSPHRASE or pass --key-file FILE");
  PGV_ASSIGN_OR_RETURN(auto keys, storage.List(kKeysPrefix));
  std::string tried;  // the key objects of this kind of secret that did not open
  for (const auto& obj : keys) {
    PGV_ASSIGN_OR_RETURN(Bytes key_text, storage.Get(obj.key));
    json kj = json::parse(AsString(key_text), nullptr, false);
    // Skip key objects made for the other kind of secret without spending a KDF on them.
    bool for_file = kj.is_object() && kj.value("kdf", "") == "hkdf-sha256";
    bool for_passphrase = kj.is_object() && kj.value("kdf", "") == "scrypt";
    if (for_file ? secret.key_file_path.empty() : for_passphrase && !secret.key_file_path.empty())
      continue;
    tried += fmt::format("{}'{}'", tried.empty() ? "" : ", ", obj.key);
    if (!CheckKeyObject(obj.key, key_text).ok()) continue;
    std::string cache_as;
    auto kek = DeriveKek(secret, kj, &cache_as);
    if (!kek.ok()) {
      if (kek.status().code() == Code::kConfig) return kek.status();
      continue;
    }
    Bytes wrapped;
    if (!FromHex(kj.value("wrapped", ""), wrapped)) continue;
    auto opened = pipeline::Open(*kek, wrapped, AsBytes(WrapAad(repo_id)));
    if (opened.ok()) {
      if (!cache_as.empty()) keyring::Store(cache_as, kek->view(), kKekCacheSeconds);
      SecretKey master(*opened);
      pipeline::Wipe(*opened);
      return master;
    }
  }
  // A wrong secret and a damaged key object (or config: its repo_id is bound in) look alike.
  return std::move(Status::Crypto(fmt::format(
                       "wrong passphrase or key file for repository '{}' (no key object opens "
                       "with it: {}; if the secret is right, one of them or '{}' is damaged)",
                       storage.Describe(), tried.empty() ? "none found" : tried, kConfigKey)))
      .WithHint(secret.key_file_path.empty() ? "check PGVAULT_PASSPHRASE" : "check --key-file");
}

// Each present field has the type given (JSON numbers: an unsigned also passes as an integer).
bool HasTypedFields(const json& j,
                    std::initializer_list<std::pair<const char*, json::value_t>> fields) {
  for (const auto& [name, type] : fields) {
    auto it = j.find(name);
    if (it == j.end()) continue;
    bool ok =
        it->type() == type || (type == json::value_t::number_integer && it->is_number_integer());
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Status Repository::Create(storage::Storage& storage, const RepoParams& params,
                          const Secret& secret) {
  auto existing = storage.List("");
  if (!existing.ok()) return existing.status();
  for (const auto& obj : *existing) {
    if (obj.key == kConfigKey)
      return std::move(Status::Conflict(fmt::format("a pgvault repository already exists at '{}'",
                                                    storage.Describe())))
          .WithHint("choose another --repo location; repo-create never touches an existing one");
  }
  if (!existing->empty())
    return std::move(Status::Conflict(fmt::format("'{}' is not empty", storage.Describe())))
        .WithHint("create the repository in an empty or new directory");
  if (params.object_lock && !storage.features().object_lock)
    return std::move(
               Status::Config(fmt::format("'{}' does not support object lock", storage.Describe())))
        .WithHint("use an S3 bucket created with Object Lock enabled");
  if (params.encrypted && secret.empty())
    return std::move(Status::Config("an encrypted repository needs a passphrase or a key file"))
        .WithHint("set PGVAULT_PASSPHRASE or pass --key-file FILE (or --cipher none)");

  RepoConfig config;
  config.repo_id = ToHex(pipeline::RandomBytes(16));
  config.params = params;
  config.created_unix_micros = NowUnixMicros();
  Bytes random = pipeline::RandomBytes(pipeline::kKeySize);
  SecretKey master(random);
  pipeline::Wipe(random);
  std::optional<SecretKey> plain_id_key;
  if (params.encrypted) {
    PGV_RETURN_IF_ERROR(WriteKeyObject(storage, config.repo_id, master, secret, true));
  } else {
    plain_id_key = master;
  }
  json config_json = ConfigToJson(config, plain_id_key);
  config_json["checksum"] = OwnChecksum(config_json, kConfigKey);
  std::string text = config_json.dump(2);
  Status s = storage.Put(kConfigKey, AsBytes(text), {.if_absent = true, .owner_only = true});
  if (s.code() == Code::kConflict)
    return Status::Conflict(
        fmt::format("a pgvault repository already exists at '{}'", storage.Describe()));
  return s;
}

Status Repository::RaiseFormat(int format) {
  if (config_.format >= format) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(Bytes raw, storage_->Get(kConfigKey));
  json j = json::parse(AsString(raw), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", 0) != config_.format)
    return Status::Conflict(
        fmt::format("repository '{}': its config changed while it was open", Describe()));
  j["format"] = format;
  j["checksum"] = OwnChecksum(j, kConfigKey);
  std::string text = j.dump(2);
  // A whole-object replace: atomic on every storage (posix rename, S3 PUT), so a reader sees
  // the old config or the new one.
  PGV_RETURN_IF_ERROR(storage_->Put(kConfigKey, AsBytes(text), {.owner_only = true})
                          .Context("raising the repository format"));
  config_.format = format;
  return Status::Ok();
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<storage::Storage> storage,
                                                     const Secret& secret) {
  auto raw = storage->Get(kConfigKey);
  if (!raw.ok()) {
    // config is written last (repo-create, repo-sync): without it there is no repository yet,
    // whatever else a killed create or sync left.
    if (raw.status().IsNotFound()) return NoRepository(*storage);
    return raw.status().Context("reading repository config");
  }
  json j = json::parse(AsString(*raw), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::Corruption(fmt::format("repository '{}': its '{}' object is not valid JSON",
                                          storage->Describe(), kConfigKey));
  if (j.contains("checksum") && (!j["checksum"].is_string() ||
                                 j["checksum"].get<std::string>() != OwnChecksum(j, kConfigKey)))
    return std::move(Status::Corruption(fmt::format(
                         "repository '{}': its '{}' object fails its checksum (it was changed "
                         "after repo-create)",
                         storage->Describe(), kConfigKey)))
        .WithHint("restore the config object from a replica (repo-sync) or a copy");
  // Every field is read with its type; a mistyped one (json throws) is a damaged config, not an
  // internal error.
  if (!HasTypedFields(j, {{"format", json::value_t::number_unsigned},
                          {"repo_id", json::value_t::string},
                          {"cipher", json::value_t::string},
                          {"compression", json::value_t::string},
                          {"compression_level", json::value_t::number_integer},
                          {"block_size", json::value_t::number_unsigned},
                          {"pack_size", json::value_t::number_unsigned},
                          {"object_lock", json::value_t::boolean},
                          {"created_unix_micros", json::value_t::number_integer},
                          {"id_key", json::value_t::string}}))
    return std::move(Status::Corruption(fmt::format(
                         "repository '{}': its 'config' object has a field of the wrong type",
                         storage->Describe())))
        .WithHint("restore the config object from a replica (repo-sync) or a copy");
  std::unique_ptr<Repository> repo(new Repository());
  RepoConfig& c = repo->config_;
  c.format = j.value("format", 0);
  if (c.format < kFormatBase || c.format > kFormatVersion)
    return std::move(
               Status::Config(fmt::format("repository '{}' has format {}, this pgvault reads {}",
                                          storage->Describe(), c.format, kFormatVersion)))
        .WithHint("use the pgvault version that created it");
  c.repo_id = j.value("repo_id", "");
  c.params.encrypted = j.value("cipher", "") == "aes-256-gcm";
  if (!pipeline::ParseCompression(j.value("compression", ""), c.params.compression))
    return Status::Corruption("repository object 'config': unknown compression");
  c.params.compression_level = j.value("compression_level", 3);
  c.params.block_size = j.value("block_size", 0u);
  c.params.pack_size = j.value("pack_size", 0ull);
  c.params.object_lock = j.value("object_lock", false);
  c.created_unix_micros = j.value("created_unix_micros", 0ll);
  if (c.params.block_size < 4096 || c.params.block_size > (16u << 20) || c.params.pack_size == 0)
    return Status::Corruption("repository object 'config': block_size or pack_size out of range");

  std::optional<SecretKey> master;
  if (!c.params.encrypted) {
    Bytes id_key;
    if (!FromHex(j.value("id_key", ""), id_key) || id_key.size() != pipeline::kKeySize)
      return Status::Corruption("repository object 'config': bad id_key");
    master = SecretKey(id_key);
  } else {
    PGV_ASSIGN_OR_RETURN(SecretKey unwrapped, UnwrapMasterKey(*storage, secret, c.repo_id));
    master = unwrapped;
  }
  Bytes salt(c.repo_id.begin(), c.repo_id.end());
  repo->master_key_ = *master;
  repo->id_key_ = pipeline::Hkdf(master->view(), salt, "pgvault block id v1");
  std::optional<SecretKey> data_key;
  if (c.params.encrypted) data_key = pipeline::Hkdf(master->view(), salt, "pgvault data v1");
  repo->codec_ = std::make_unique<pipeline::Codec>(std::move(data_key), c.params.compression,
                                                   c.params.compression_level);
  repo->storage_ = std::move(storage);
  return repo;
}

Status Repository::CheckCluster(uint64_t system_identifier, int pg_version_major,
                                uint64_t wal_segment_size) {
  json j{{"system_identifier", std::to_string(system_identifier)},
         {"pg_version", pg_version_major}};
  if (wal_segment_size > 0) j["wal_segment_size"] = wal_segment_size;
  // Read first: every archive-push asks, and only the first finds nothing (a write costs a
  // temporary file and two fsyncs, or an S3 PUT).
  auto existing = storage_->Get(kClusterKey);
  if (!existing.ok()) {
    if (!existing.status().IsNotFound()) return existing.status();
    std::string text = j.dump(2);
    Status s = storage_->Put(kClusterKey, AsBytes(text), {.if_absent = true});
    if (s.ok()) return s;
    if (s.code() != Code::kConflict) return s;
    existing = storage_->Get(kClusterKey);  // written meanwhile by another process
    if (!existing.ok()) return existing.status();
  }
  json e = json::parse(AsString(*existing), nullptr, false);
  if (e.is_discarded()) return Status::Corruption("repository 'cluster' object is not valid JSON");
  if (e.value("system_identifier", "") != std::to_string(system_identifier))
    return std::move(
               Status::Conflict(fmt::format(
                   "repository '{}' belongs to PostgreSQL system {}, not {}", storage_->Describe(),
                   e.value("system_identifier", "?"), system_identifier)))
        .WithHint("use a separate repository for each cluster");
  uint64_t recorded = e.value("wal_segment_size", uint64_t{0});
  if (wal_segment_size > 0 && recorded > 0 && recorded != wal_segment_size)
    return std::move(Status::Conflict(fmt::format(
                         "repository '{}' holds WAL of {} MiB segments, but the cluster now writes "
                         "{} MiB segments",
                         storage_->Describe(), recorded >> 20, wal_segment_size >> 20)))
        .WithHint("a cluster whose segment size changed (pg_resetwal) needs a new repository");
  return Status::Ok();
}

Result<uint64_t> Repository::RecordedWalSegmentSize() {
  auto existing = storage_->Get(kClusterKey);
  if (!existing.ok())
    return existing.status().IsNotFound() ? Result<uint64_t>(0) : existing.status();
  json e = json::parse(AsString(*existing), nullptr, false);
  if (e.is_discarded() || !e.is_object())
    return Status::Corruption("repository 'cluster' object is not valid JSON");
  if (!e.contains("wal_segment_size")) return uint64_t{0};  // written before the field
  const json& size = e["wal_segment_size"];
  if (!size.is_number_unsigned())
    return Status::Corruption("repository 'cluster' object: 'wal_segment_size' is not a number");
  return size.get<uint64_t>();
}

Status CheckKeyObject(std::string_view key, ByteView text) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(fmt::format("key object '{}' is damaged: {}", key, why));
  };
  json kj = json::parse(AsString(text), nullptr, false);
  if (kj.is_discarded() || !kj.is_object()) return bad("not valid JSON");
  if (!kj["kdf"].is_string() || !kj["salt"].is_string() || !kj["wrapped"].is_string())
    return bad("'kdf', 'salt' or 'wrapped' is missing");
  if (kj.contains("checksum") &&
      (!kj["checksum"].is_string() || kj["checksum"].get<std::string>() != OwnChecksum(kj, key)))
    return bad("it fails its checksum");
  std::string kdf = kj["kdf"].get<std::string>();
  if (kdf == "scrypt") {
    pipeline::ScryptParams defaults;
    for (const char* field : {"n", "r", "p"})
      if (!kj[field].is_number_unsigned()) return bad(fmt::format("'{}' is not a number", field));
    // Only the parameters pgvault writes: a changed one derives another key.
    if (kj["n"].get<uint64_t>() != defaults.n || kj["r"].get<uint64_t>() != defaults.r ||
        kj["p"].get<uint64_t>() != defaults.p)
      return bad("scrypt parameters are not the ones pgvault writes");
  } else if (kdf != "hkdf-sha256") {
    return bad(fmt::format("unknown kdf '{}'", kdf));
  }
  Bytes salt, wrapped;
  if (!FromHex(kj["salt"].get<std::string>(), salt) || salt.size() != 16)
    return bad("'salt' is not 16 bytes of hex");
  if (!FromHex(kj["wrapped"].get<std::string>(), wrapped) ||
      wrapped.size() != pipeline::kNonceSize + pipeline::kKeySize + pipeline::kTagSize)
    return bad("'wrapped' is not a sealed key of the right size");
  return Status::Ok();
}

Status AddKey(Repository& repo, const Secret& new_secret) {
  if (!repo.config().params.encrypted)
    return Status::InvalidArgument(
        fmt::format("repository '{}' is not encrypted", repo.Describe()));
  if (new_secret.empty())
    return std::move(Status::Config("no new passphrase or key file given"))
        .WithHint("set PGVAULT_NEW_PASSPHRASE or pass --new-key-file FILE");
  return WriteKeyObject(repo.storage(), repo.config().repo_id, repo.master_key_, new_secret, true);
}

}  // namespace pgvault::repo

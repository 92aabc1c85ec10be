#include "repo/manifest.h"

#include <fmt/format.h>

#include <limits>
#include <set>
#include <utility>

#include "common/log.h"
#include "pg/wal_names.h"
#include "repo/layout.h"

namespace pgvault::repo {
namespace {

std::string PartAad(std::string_view backup_id, uint32_t part) {
  return fmt::format("pgvault-manifest-part:{}:{}", backup_id, part);
}
std::string HeaderAad(std::string_view backup_id) {
  return fmt::format("pgvault-manifest:{}", backup_id);
}

void EncodeEntry(const FileEntry& e, Encoder& enc) {
  enc.U8(static_cast<uint8_t>(e.type));
  enc.Str(e.path);
  enc.U32(e.mode);
  enc.U64(e.size);
  enc.U64(static_cast<uint64_t>(e.mtime));
  enc.Str(e.link_target);
  enc.Raw(e.checksum);
  enc.U32(static_cast<uint32_t>(e.blocks.size()));
  for (const BlockRef& b : e.blocks) {
    enc.U8(b.zero ? 0 : b.delta ? 2 : 1);
    if (b.zero) continue;
    enc.Raw(b.id);
    enc.Raw(b.loc.pack);
    enc.U32(b.loc.offset);
    enc.U32(b.loc.size);
    if (!b.delta) continue;
    enc.Raw(b.base_id);
    enc.Raw(b.base_loc.pack);
    enc.U32(b.base_loc.offset);
    enc.U32(b.base_loc.size);
  }
}

bool DecodeEntry(Decoder& dec, FileEntry& e) {
  uint8_t type;
  uint64_t mtime;
  uint32_t nblocks;
  ByteView raw;
  if (!dec.U8(type) || type < 1 || type > 3 || !dec.Str(e.path) || !dec.U32(e.mode) ||
      !dec.U64(e.size) || !dec.U64(mtime) || !dec.Str(e.link_target) || !dec.Raw(32, raw) ||
      !dec.U32(nblocks))
    return false;
  e.type = static_cast<EntryType>(type);
  e.mtime = static_cast<int64_t>(mtime);
  std::copy(raw.begin(), raw.end(), e.checksum.begin());
  if (nblocks > dec.remaining()) return false;  // each block takes at least one byte
  e.blocks.assign(nblocks, BlockRef{});
  for (BlockRef& b : e.blocks) {
    uint8_t kind;
    if (!dec.U8(kind) || kind > 2) return false;
    b.zero = kind == 0;
    b.delta = kind == 2;
    if (b.zero) continue;
    if (!dec.Raw(32, raw)) return false;
    std::copy(raw.begin(), raw.end(), b.id.begin());
    if (!dec.Raw(16, raw)) return false;
    std::copy(raw.begin(), raw.end(), b.loc.pack.begin());
    if (!dec.U32(b.loc.offset) || !dec.U32(b.loc.size)) return false;
    if (!b.delta) continue;
    if (!dec.Raw(32, raw)) return false;
    std::copy(raw.begin(), raw.end(), b.base_id.begin());
    if (!dec.Raw(16, raw)) return false;
    std::copy(raw.begin(), raw.end(), b.base_loc.pack.begin());
    if (!dec.U32(b.base_loc.offset) || !dec.U32(b.base_loc.size)) return false;
  }
  return true;
}

// Reads the fields of one JSON object into a struct; the first problem is kept in status.
class FieldReader {
 public:
  FieldReader(std::string_view backup_id, const nlohmann::json& j, std::string prefix = "")
      : backup_id_(backup_id), j_(j), prefix_(std::move(prefix)) {}
  FieldReader(const FieldReader& parent, const char* key)
      : backup_id_(parent.backup_id_),
        j_(Child(parent, key)),
        prefix_(parent.prefix_ + key + ".") {}

  template <typename T>
  void Required(const char* key, T& out) {
    const nlohmann::json* v = Find(key);
    if (!v)
      Fail(key, "is missing");
    else
      Convert(key, *v, out);
  }
  // Keeps out (its documented default) when the field is absent.
  template <typename T>
  void Optional(const char* key, T& out) {
    if (const nlohmann::json* v = Find(key)) Convert(key, *v, out);
  }
  void RequiredObject(const char* key) {
    const nlohmann::json* v = Find(key);
    if (!v)
      Fail(key, "is missing");
    else if (!v->is_object())
      Fail(key, "is not an object");
  }
  // An "X/X" LSN as PostgreSQL writes it.
  void RequiredLsn(const char* key, uint64_t& out) {
    std::string text;
    Required(key, text);
    if (!status_.ok()) return;
    if (auto lsn = pg::ParseLsn(text))
      out = *lsn;
    else
      Fail(key, "is not an LSN");
  }
  // A string or null.
  void RequiredOptionalString(const char* key, std::optional<std::string>& out) {
    const nlohmann::json* v = Find(key);
    if (v && v->is_null()) return out.reset();
    std::string text;
    Required(key, text);
    out = text;
  }
  void OptionalBool(const char* key, bool& out) {
    const nlohmann::json* v = Find(key);
    if (!v) return;
    if (!v->is_boolean()) return Fail(key, "is not true or false");
    out = v->get<bool>();
  }
  void OptionalPageErrors(const char* key, std::vector<PageChecksumError>& out) {
    const nlohmann::json* v = Find(key);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "is not an array");
    for (size_t i = 0; i < v->size(); ++i) {
      std::string name = fmt::format("{}[{}]", key, i);
      if (!(*v)[i].is_object()) return Fail(name.c_str(), "is not an object");
      FieldReader r(backup_id_, (*v)[i], prefix_ + name + ".");
      PageChecksumError& e = out.emplace_back();
      r.Required("path", e.path);
      r.Required("block", e.block);
      r.Required("stored", e.stored);
      r.Required("computed", e.computed);
      Merge(r);
    }
  }
  void RequiredTablespaces(const char* key, std::vector<TablespaceRef>& out) {
    const nlohmann::json* v = Find(key);
    if (!v) return Fail(key, "is missing");
    if (!v->is_array()) return Fail(key, "is not an array");
    for (size_t i = 0; i < v->size(); ++i) {
      std::string name = fmt::format("{}[{}]", key, i);
      FieldReader r(backup_id_, (*v)[i], prefix_ + name + ".");
      if (!(*v)[i].is_object()) return Fail(name.c_str(), "is not an object");
      TablespaceRef& ts = out.emplace_back();
      r.Required("oid", ts.oid);
      r.Required("location", ts.location);
      Merge(r);
    }
  }
  // An array of strings, or absent (nullopt).
  void OptionalStrings(const char* key, std::optional<std::vector<std::string>>& out) {
    const nlohmann::json* v = Find(key);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "is not an array");
    out.emplace();
    for (const auto& item : *v) {
      if (!item.is_string()) return Fail(key, "is not an array of strings");
      out->push_back(item.get<std::string>());
    }
  }
  Status status() const { return status_; }
  void Merge(const FieldReader& child) {
    if (status_.ok()) status_ = child.status_;
  }
  void Fail(const char* key, std::string_view what) {
    if (!status_.ok()) return;
    status_ = std::move(Status::Corruption(fmt::format("manifest of backup '{}' is damaged: field "
                                                       "'{}{}' {}",
                                                       backup_id_, prefix_, key, what)))
                  .WithHint(DamagedBackupHint(backup_id_));
  }

 private:
  static const nlohmann::json& Child(const FieldReader& parent, const char* key) {
    static const nlohmann::json kEmpty = nlohmann::json::object();
    const nlohmann::json* v = parent.Find(key);
    return v && v->is_object() ? *v : kEmpty;
  }
  const nlohmann::json* Find(const char* key) const {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  void Convert(const char* key, const nlohmann::json& v, std::string& out) {
    if (!v.is_string()) return Fail(key, "is not a string");
    out = v.get<std::string>();
  }
  template <typename T>
  requires std::is_integral_v<T>
  void Convert(const char* key, const nlohmann::json& v, T& out) {
    bool fits = v.is_number_unsigned()  ? std::in_range<T>(v.get<uint64_t>())
                : v.is_number_integer() ? std::in_range<T>(v.get<int64_t>())
                                        : false;
    if (!fits) return Fail(key, "is not an integer in range");
    out = v.is_number_unsigned() ? static_cast<T>(v.get<uint64_t>())
                                 : static_cast<T>(v.get<int64_t>());
  }
  void Convert(const char* key, const nlohmann::json& v, double& out) {
    if (!v.is_number()) return Fail(key, "is not a number");
    out = v.get<double>();
  }

  std::string_view backup_id_;
  const nlohmann::json& j_;
  std::string prefix_;
  Status status_;
};

nlohmann::json StatsToJson(const BackupStats& s) {
  return {{"files", s.files},
          {"bytes_read", s.bytes_read},
          {"blocks", s.blocks},
          {"zero_blocks", s.zero_blocks},
          {"reused_blocks", s.reused_blocks},
          {"new_blocks", s.new_blocks},
          {"delta_blocks", s.delta_blocks},
          {"bytes_new_raw", s.bytes_new_raw},
          {"bytes_new", s.bytes_new},
          {"packs_written", s.packs_written},
          {"files_vanished", s.files_vanished},
          {"pages_checked", s.pages_checked},
          {"pages_failed", s.pages_failed},
          {"files_unchanged", s.files_unchanged},
          {"bytes_unchanged", s.bytes_unchanged},
          {"duration_seconds", s.duration_seconds},
          {"cpu_seconds",
           {{"read", s.cpu_seconds.read},
            {"hash", s.cpu_seconds.hash},
            {"compress", s.cpu_seconds.compress},
            {"encrypt", s.cpu_seconds.encrypt},
            {"write", s.cpu_seconds.write}}}};
}

void ReadStats(FieldReader& parent, BackupStats& s) {
  FieldReader r(parent, "stats");
  parent.RequiredObject("stats");
  r.Required("files", s.files);
  r.Required("bytes_read", s.bytes_read);
  r.Required("blocks", s.blocks);
  r.Required("zero_blocks", s.zero_blocks);
  r.Required("reused_blocks", s.reused_blocks);
  r.Required("new_blocks", s.new_blocks);
  r.Optional("delta_blocks", s.delta_blocks);  // format 1 before delta blocks: 0
  r.Required("bytes_new_raw", s.bytes_new_raw);
  r.Required("bytes_new", s.bytes_new);
  r.Required("packs_written", s.packs_written);
  r.Required("files_vanished", s.files_vanished);
  r.Optional("pages_checked", s.pages_checked);      // before page checksums: 0
  r.Optional("pages_failed", s.pages_failed);        // before page checksums: 0
  r.Optional("files_unchanged", s.files_unchanged);  // before unchanged files: 0
  r.Optional("bytes_unchanged", s.bytes_unchanged);
  r.Required("duration_seconds", s.duration_seconds);
  FieldReader c(r, "cpu_seconds");
  r.RequiredObject("cpu_seconds");
  c.Required("read", s.cpu_seconds.read);
  c.Required("hash", s.cpu_seconds.hash);
  c.Required("compress", s.cpu_seconds.compress);
  c.Required("encrypt", s.cpu_seconds.encrypt);
  c.Required("write", s.cpu_seconds.write);
  r.Merge(c);
  parent.Merge(r);
}

}  // namespace

nlohmann::json ManifestHeaderToJson(const ManifestHeader& h) {
  nlohmann::json tablespaces = nlohmann::json::array();
  for (const auto& ts : h.tablespaces)
    tablespaces.push_back({{"oid", ts.oid}, {"location", ts.location}});
  nlohmann::json j{
      {"backup_id", h.backup_id},
      {"type", h.type},
      {"parent", h.parent ? nlohmann::json(*h.parent) : nlohmann::json(nullptr)},
      {"pgvault_version", h.pgvault_version},
      {"pg_version", h.pg_version},
      {"system_identifier", h.system_identifier},
      {"timeline", h.timeline},
      {"start_lsn", pg::FormatLsn(h.start_lsn)},
      {"stop_lsn", pg::FormatLsn(h.stop_lsn)},
      {"start_wal", h.start_wal},
      {"stop_wal", h.stop_wal},
      {"wal_segment_size", h.wal_segment_size},
      {"start_time", h.start_time},
      {"stop_time", h.stop_time},
      {"start_time_unix_micros", h.start_time_unix_micros},
      {"stop_time_unix_micros", h.stop_time_unix_micros},
      {"block_size", h.block_size},
      {"compression", h.compression},
      {"cipher", h.cipher},
      {"pgdata", h.pgdata},
      {"tablespaces", tablespaces},
      {"backup_label", h.backup_label},
      {"tablespace_map", h.tablespace_map},
      {"stats", StatsToJson(h.stats)},
      {"parts", h.parts},
      {"manifest_bytes", h.manifest_bytes},
  };
  j["data_checksums"] = h.data_checksums;
  nlohmann::json page_errors = nlohmann::json::array();
  for (const auto& e : h.page_checksum_errors)
    page_errors.push_back(
        {{"path", e.path}, {"block", e.block}, {"stored", e.stored}, {"computed", e.computed}});
  j["page_checksum_errors"] = std::move(page_errors);
  if (h.retain_until_unix > 0) {
    j["retain_until"] = h.retain_until;
    j["retain_until_unix"] = h.retain_until_unix;
  }
  if (h.tiers) j["tiers"] = *h.tiers;
  return j;
}

Result<ManifestHeader> ParseManifestHeader(std::string_view backup_id, const nlohmann::json& j) {
  ManifestHeader h;
  FieldReader r(backup_id, j);
  if (!j.is_object())
    return Status::Corruption(
        fmt::format("manifest of backup '{}' is not a JSON object", backup_id));
  r.Required("backup_id", h.backup_id);
  r.Required("type", h.type);
  r.RequiredOptionalString("parent", h.parent);
  r.Required("pgvault_version", h.pgvault_version);
  r.Required("pg_version", h.pg_version);
  r.Required("system_identifier", h.system_identifier);
  r.Required("timeline", h.timeline);
  r.RequiredLsn("start_lsn", h.start_lsn);
  r.RequiredLsn("stop_lsn", h.stop_lsn);
  r.Required("start_wal", h.start_wal);
  r.Required("stop_wal", h.stop_wal);
  r.Required("wal_segment_size", h.wal_segment_size);
  r.Required("start_time", h.start_time);
  r.Required("stop_time", h.stop_time);
  r.Required("start_time_unix_micros", h.start_time_unix_micros);
  r.Required("stop_time_unix_micros", h.stop_time_unix_micros);
  r.Required("block_size", h.block_size);
  r.Required("compression", h.compression);
  r.Required("cipher", h.cipher);
  r.Required("pgdata", h.pgdata);
  r.RequiredTablespaces("tablespaces", h.tablespaces);
  r.Required("backup_label", h.backup_label);
  r.Required("tablespace_map", h.tablespace_map);
  ReadStats(r, h.stats);
  r.OptionalBool("data_checksums", h.data_checksums);                    // before: false
  r.OptionalPageErrors("page_checksum_errors", h.page_checksum_errors);  // before: none
  r.Optional("retain_until", h.retain_until);            // absent unless retained: ""
  r.Optional("retain_until_unix", h.retain_until_unix);  // absent unless retained: 0
  r.OptionalStrings("tiers", h.tiers);                   // absent before tiers: nullopt
  r.Required("parts", h.parts);
  r.Required("manifest_bytes", h.manifest_bytes);
  PGV_RETURN_IF_ERROR(r.status());
  uint64_t size = h.wal_segment_size;
  if (size < (1u << 20) || size > (1u << 30) || (size & (size - 1)) != 0)
    r.Fail("wal_segment_size", "is not a power of two from 1 MiB to 1 GiB");
  if (h.block_size < 4096 || h.block_size > (16u << 20))
    r.Fail("block_size", "is not a block size (4 KiB to 16 MiB)");
  if (h.parts == 0) r.Fail("parts", "is 0 (a backup has at least one part)");
  PGV_RETURN_IF_ERROR(r.status());
  return h;
}

pipeline::Digest FileChecksum(const std::vector<BlockRef>& blocks) {
  pipeline::Sha256Stream sha;
  static const pipeline::Digest kZero{};
  for (const BlockRef& b : blocks) sha.Update(b.zero ? kZero : b.id);
  return sha.Finish();
}

Status ManifestWriter::Add(const FileEntry& entry) {
  Encoder enc(buffer_);
  EncodeEntry(entry, enc);
  records_in_part_++;
  if (buffer_.size() >= part_size_) return FlushPart();
  return Status::Ok();
}

Status ManifestWriter::FlushPart() {
  // The marker goes first: a backup killed (or failing) before its manifest leaves parts that
  // verify reports as an interrupted backup and gc removes, not as a backup that lost its
  // manifest.
  if (parts_ == 0)
    PGV_RETURN_IF_ERROR(storage_.Put(IncompleteMarkerKey(backup_id_), AsBytes(backup_id_))
                            .Context("writing the incomplete marker"));
  // A part is: u32 record count | records.
  Bytes plain;
  Encoder(plain).U32(records_in_part_);
  Append(plain, buffer_);
  Bytes sealed = codec_.Encode(plain, AsBytes(PartAad(backup_id_, parts_)));
  storage::PutOptions options = put_options_;
  options.if_absent = true;
  Status s = storage_.Put(ManifestPartKey(backup_id_, parts_), sealed, options);
  if (!s.ok()) return s.Context("writing manifest part");
  bytes_written_ += sealed.size();
  parts_++;
  buffer_.clear();
  records_in_part_ = 0;
  return Status::Ok();
}

Status ManifestWriter::Finish(ManifestHeader header) {
  if (records_in_part_ > 0 || parts_ == 0) PGV_RETURN_IF_ERROR(FlushPart());
  header.parts = parts_;
  header.manifest_bytes = bytes_written_;
  std::string text = ManifestHeaderToJson(header).dump();
  Bytes sealed = codec_.Encode(AsBytes(text), AsBytes(HeaderAad(backup_id_)));
  storage::PutOptions options = put_options_;
  options.if_absent = true;
  PGV_RETURN_IF_ERROR(
      storage_.Put(ManifestKey(backup_id_), sealed, options).Context("writing manifest"));
  // The backup is whole now. A marker a failed delete leaves beside a manifest is harmless
  // (verify ignores it, expire removes it with the backup).
  if (Status s = storage_.Delete(IncompleteMarkerKey(backup_id_)); !s.ok())
    log::Warn("backup '{}' is whole but its incomplete marker stays: {}", backup_id_, s.message());
  return Status::Ok();
}

Result<ManifestHeader> ReadManifestHeader(storage::Storage& storage, const pipeline::Codec& codec,
                                          std::string_view backup_id) {
  auto sealed = storage.Get(ManifestKey(backup_id));
  if (!sealed.ok()) {
    if (sealed.status().IsNotFound())
      return std::move(Status::NotFound(fmt::format("backup '{}' does not exist in '{}'", backup_id,
                                                    storage.Describe())))
          .WithHint("list backups with: pgvault info");
    return sealed.status();
  }
  auto plain = codec.Decode(*sealed, AsBytes(HeaderAad(backup_id)));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("manifest of backup '{}' is damaged: {}", backup_id, plain.status().message()));
  nlohmann::json j = nlohmann::json::parse(AsString(*plain), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::Corruption(fmt::format("manifest of backup '{}' is not valid JSON", backup_id));
  return ParseManifestHeader(backup_id, j);
}

Result<std::unique_ptr<ManifestReader>> ManifestReader::Open(storage::Storage& storage,
                                                             const pipeline::Codec& codec,
                                                             std::string_view backup_id) {
  PGV_ASSIGN_OR_RETURN(ManifestHeader header, ReadManifestHeader(storage, codec, backup_id));
  std::unique_ptr<ManifestReader> r(new ManifestReader(storage, codec));
  r->backup_id_ = backup_id;
  r->header_ = std::move(header);
  r->parts_ = r->header_.parts;
  return r;
}

Status ManifestReader::LoadPart(uint32_t part) {
  std::string key = ManifestPartKey(backup_id_, part);
  auto sealed = storage_.Get(key);
  // The header names its parts: a missing one is damage, not an unknown backup. Unless the
  // manifest went too: expire deletes it first and the parts after, so the backup was expired
  // while this reader read it (e.g. a backup reading its parent).
  if (!sealed.ok() && sealed.status().IsNotFound()) {
    if (auto manifest = storage_.Stat(ManifestKey(backup_id_));
        !manifest.ok() && manifest.status().IsNotFound())
      return Status::NotFound(fmt::format("backup '{}' was expired while it was read", backup_id_));
    return std::move(Status::Corruption(fmt::format("manifest part '{}' of backup '{}' is missing",
                                                    key, backup_id_)))
        .WithHint(DamagedBackupHint(backup_id_));
  }
  if (!sealed.ok()) return sealed.status().Context(fmt::format("reading manifest part '{}'", key));
  auto plain = codec_.Decode(*sealed, AsBytes(PartAad(backup_id_, part)));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("manifest part '{}' is damaged: {}", key, plain.status().message()));
  part_ = std::move(plain).value();
  decoder_ = std::make_unique<Decoder>(part_);
  if (!decoder_->U32(remaining_in_part_))
    return Status::Corruption(fmt::format("manifest part '{}' is truncated", key));
  return Status::Ok();
}

bool ManifestReader::Next(FileEntry& entry) {
  while (remaining_in_part_ == 0) {
    if (decoder_ && !decoder_->done()) {
      status_ = Status::Corruption(fmt::format("manifest part {} of backup '{}' has trailing bytes",
                                               next_part_ - 1, backup_id_));
      return false;
    }
    if (next_part_ >= parts_) return false;
    status_ = LoadPart(next_part_++);
    if (!status_.ok()) return false;
  }
  remaining_in_part_--;
  if (!DecodeEntry(*decoder_, entry)) {
    status_ = Status::Corruption(
        fmt::format("manifest part {} of backup '{}' is malformed", next_part_ - 1, backup_id_));
    return false;
  }
  return true;
}

Status VerifyManifestObject(const pipeline::Codec& codec, std::string_view key, ByteView object) {
  auto name = ParseManifestObjectKey(key);
  if (!name) return Status::Corruption(fmt::format("'{}' is not a manifest object", key));
  std::string aad = name->part ? PartAad(name->backup_id, *name->part) : HeaderAad(name->backup_id);
  auto plain = codec.Decode(object, AsBytes(aad));
  if (!plain.ok())
    return Status::Corruption(fmt::format("'{}' is damaged: {}", key, plain.status().message()));
  return Status::Ok();
}

Result<std::vector<std::string>> ListBackups(storage::Storage& storage) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kBackupsPrefix));
  std::vector<std::string> ids;
  for (const auto& obj : objects)
    if (auto id = BackupIdFromManifestKey(obj.key)) ids.push_back(*id);
  return ids;
}

Result<std::vector<ListedBackup>> ListBackupHeaders(storage::Storage& storage,
                                                    const pipeline::Codec& codec) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kBackupsPrefix));
  std::set<std::string, std::less<>> keys;
  for (const auto& obj : objects) keys.insert(obj.key);
  std::vector<ListedBackup> out;
  for (const auto& obj : objects) {
    auto id = BackupIdFromManifestKey(obj.key);
    if (!id) continue;
    auto header = ReadManifestHeader(storage, codec, *id);
    if (!header.ok() && header.status().IsNotFound()) continue;  // expired since the listing
    if (!header.ok() && header.status().code() != Code::kCorruption) return header.status();
    ListedBackup backup{.id = *id};
    if (!header.ok()) {
      backup.damage = header.status().message();
      out.push_back(std::move(backup));
      continue;
    }
    uint32_t parts = header->parts;
    for (uint32_t part = 0; part < parts && backup.damage.empty(); ++part)
      if (!keys.count(ManifestPartKey(*id, part)))
        backup.damage = fmt::format("manifest part '{}' of backup '{}' is missing",
                                    ManifestPartKey(*id, part), *id);
    if (backup.damage.empty()) backup.header = std::move(header).value();
    out.push_back(std::move(backup));
  }
  return out;
}

std::string DamagedBackupHint(std::string_view backup_id) {
  return fmt::format(
      "'pgvault verify' lists the damage; remove the backup with: pgvault expire --backup {}",
      backup_id);
}

Status CheckEntrySafe(const FileEntry& entry, const ManifestHeader& header) {
  const std::string& path = entry.path;
  auto unsafe = [&] {
    return Status::Corruption(fmt::format("manifest holds an unsafe path '{}'", path));
  };
  if (path.empty() || path.front() == '/') return unsafe();
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return unsafe();
    start = end + 1;
  }
  if (entry.type != EntryType::kSymlink) return Status::Ok();
  // Only a tablespace's link: any other would let later entries write through it.
  for (const auto& ts : header.tablespaces)
    if (path == "pg_tblspc/" + ts.oid) return Status::Ok();
  return Status::Corruption(fmt::format("manifest holds an unexpected link '{}'", path));
}

}  // namespace pgvault::repo

#include "repo/manifest.h"

#include <fmt/format.h>

#include <set>

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

}  // namespace

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
  header["parts"] = parts_;
  header["manifest_bytes"] = bytes_written_;
  std::string text = header.dump();
  Bytes sealed = codec_.Encode(AsBytes(text), AsBytes(HeaderAad(backup_id_)));
  storage::PutOptions options = put_options_;
  options.if_absent = true;
  Status s = storage_.Put(ManifestKey(backup_id_), sealed, options);
  return s.Context("writing manifest");
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
  ManifestHeader h = nlohmann::json::parse(AsString(*plain), nullptr, false);
  if (h.is_discarded() || !h.is_object())
    return Status::Corruption(fmt::format("manifest of backup '{}' is not valid JSON", backup_id));
  return h;
}

Result<std::unique_ptr<ManifestReader>> ManifestReader::Open(storage::Storage& storage,
                                                             const pipeline::Codec& codec,
                                                             std::string_view backup_id) {
  PGV_ASSIGN_OR_RETURN(ManifestHeader header, ReadManifestHeader(storage, codec, backup_id));
  std::unique_ptr<ManifestReader> r(new ManifestReader(storage, codec));
  r->backup_id_ = backup_id;
  r->header_ = std::move(header);
  r->parts_ = r->header_.value("parts", 0u);
  return r;
}

Status ManifestReader::LoadPart(uint32_t part) {
  std::string key = ManifestPartKey(backup_id_, part);
  auto sealed = storage_.Get(key);
  // The header names its parts: a missing one is damage, not an unknown backup.
  if (!sealed.ok() && sealed.status().IsNotFound())
    return std::move(Status::Corruption(fmt::format("manifest part '{}' of backup '{}' is missing",
                                                    key, backup_id_)))
        .WithHint(DamagedBackupHint(backup_id_));
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
    uint32_t parts = header->value("parts", 0u);
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
  for (const auto& ts : header.value("tablespaces", nlohmann::json::array()))
    if (ts.is_object() && path == "pg_tblspc/" + ts.value("oid", std::string()))
      return Status::Ok();
  return Status::Corruption(fmt::format("manifest holds an unexpected link '{}'", path));
}

}  // namespace pgvault::repo

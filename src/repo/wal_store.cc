#include "repo/wal_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "pg/wal_header.h"
#include "pg/wal_names.h"
#include "repo/layout.h"

namespace pgvault::repo {
namespace {

// Format 1 kept a SHA-256 of the content inside the blob; format 2 (written now) drops it: the
// blob is already authenticated (AES-256-GCM) or checksummed (CRC-32), decompression must give
// the exact size, PostgreSQL checks every WAL record's CRC on replay, and a conflicting push is
// compared byte for byte. Hashing 16 MiB cost ~8 ms of the ~30 ms of CPU a segment takes.
constexpr std::string_view kWalMagicV1 = "PGVWAL01";
constexpr std::string_view kWalMagicV2 = "PGVWAL02";

std::string WalAad(std::string_view name) { return fmt::format("pgvault-wal:{}", name); }

Result<std::string> KeyFor(std::string_view name) {
  auto key = WalKey(name);
  if (!key)
    return std::move(Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name)))
        .WithHint(
            "archive-push/archive-get take PostgreSQL's %p/%f, e.g. 000000010000000000000001");
  return *key;
}

Result<Bytes> Unseal(Repository& repo, std::string_view name, const std::string& key,
                     ByteView obj) {
  std::string_view magic =
      obj.size() >= kWalMagicV2.size() ? AsString(obj.first(kWalMagicV2.size())) : "";
  if (magic != kWalMagicV1 && magic != kWalMagicV2)
    return Status::Corruption(fmt::format("WAL object '{}' has no pgvault header", key));
  auto plain = repo.codec().Decode(obj.subspan(magic.size()), AsBytes(WalAad(name)));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("WAL object '{}' is damaged: {}", key, plain.status().message()));
  if (magic == kWalMagicV2) return plain;
  Bytes& p = *plain;
  pipeline::Digest sha;
  if (p.size() < sha.size())
    return Status::Corruption(fmt::format("WAL object '{}' is truncated", key));
  std::copy(p.begin(), p.begin() + sha.size(), sha.begin());
  Bytes content(p.begin() + sha.size(), p.end());
  if (pipeline::Sha256(content) != sha)
    return Status::Corruption(fmt::format("WAL object '{}' fails its SHA-256 check", key));
  return content;
}

std::string StreamAad(std::string_view key) { return fmt::format("pgvault-stream:{}", key); }

// A streamed part's content: magic, then the codec's frame with aad StreamAad(key); its length
// must be the one its key names.
Result<Bytes> UnsealStream(Repository& repo, std::string_view key, uint64_t length,
                           ByteView sealed) {
  std::string_view magic =
      sealed.size() >= kWalMagicV2.size() ? AsString(sealed.first(kWalMagicV2.size())) : "";
  if (magic != kWalMagicV2)
    return Status::Corruption(fmt::format("streamed WAL '{}' has no pgvault header", key));
  auto plain = repo.codec().Decode(sealed.subspan(kWalMagicV2.size()), AsBytes(StreamAad(key)));
  if (!plain.ok())
    return Status::Corruption(
        fmt::format("streamed WAL '{}' is damaged: {}", key, plain.status().message()));
  if (plain->size() != length)
    return Status::Corruption(
        fmt::format("streamed WAL '{}' holds {} bytes, not {}", key, plain->size(), length));
  return plain;
}

}  // namespace

Result<PushOutcome> PushWal(Repository& repo, std::string_view name, ByteView content,
                            const storage::PutOptions& options) {
  PGV_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  Bytes obj(kWalMagicV2.begin(), kWalMagicV2.end());
  repo.codec().EncodeAppend(content, AsBytes(WalAad(name)), obj);
  storage::PutOptions put = options;
  put.if_absent = true;
  Status s = repo.storage().Put(key, obj, put);
  if (s.ok()) return PushOutcome::kStored;
  if (s.code() != Code::kConflict) return s.Context(fmt::format("archiving '{}'", name));
  // Already there: fine if it is the same file, an error that changes nothing otherwise.
  PGV_ASSIGN_OR_RETURN(Bytes existing, repo.storage().Get(key));
  auto old = Unseal(repo, name, key, existing);
  if (!old.ok()) return old.status();
  if (std::equal(old->begin(), old->end(), content.begin(), content.end()))
    return PushOutcome::kAlreadyArchived;
  return std::move(Status::Conflict(fmt::format("WAL file '{}' is already archived with different "
                                                "content; the repository was not changed",
                                                name)))
      .WithHint(
          "two clusters may be archiving into one repository, or a restored cluster was "
          "promoted without a new timeline; check archive_command on each server");
}

Result<Bytes> GetWal(Repository& repo, std::string_view name) {
  Bytes content;
  PGV_RETURN_IF_ERROR(GetWalTo(
      repo, name,
      [&](ByteView piece) {
        Append(content, piece);
        return Status::Ok();
      },
      [&] {
        content.clear();
        return Status::Ok();
      }));
  return content;
}

Status GetWalTo(Repository& repo, std::string_view name,
                const std::function<Status(ByteView)>& sink,
                const std::function<Status()>& restart) {
  PGV_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  bool started = false;
  auto obj = repo.storage().GetChecked(key, {}, [&](ByteView sealed) -> Status {
    if (started) PGV_RETURN_IF_ERROR(restart());  // the next replica, after a damaged one
    started = true;
    std::string_view magic =
        sealed.size() >= kWalMagicV2.size() ? AsString(sealed.first(kWalMagicV2.size())) : "";
    if (magic != kWalMagicV2) {  // older objects (and damage): the general path
      PGV_ASSIGN_OR_RETURN(Bytes plain, Unseal(repo, name, key, sealed));
      return sink(plain);
    }
    Status s = repo.codec().DecodeTo(sealed.subspan(magic.size()), AsBytes(WalAad(name)), sink);
    if (!s.ok() && s.code() == Code::kCorruption)
      return Status::Corruption(fmt::format("WAL object '{}' is damaged: {}", key, s.message()));
    return s;
  });
  if (!obj.ok()) {
    if (obj.status().IsNotFound())
      return Status::NotFound(fmt::format("WAL file '{}' is not in the repository", name));
    return obj.status();
  }
  return Status::Ok();
}

Status VerifyWalObject(Repository& repo, std::string_view key, ByteView object) {
  auto name = WalNameFromKey(key);
  if (!name) return Status::Corruption(fmt::format("'{}' is not a WAL object name", key));
  auto content = Unseal(repo, *name, std::string(key), object);
  return content.ok() ? CheckWalObjectContent(key, *content) : content.status();
}

Status CheckWalObjectContent(std::string_view key, ByteView content, uint64_t segment_size) {
  std::string name = WalNameFromKey(key).value_or("");  // not a WAL object name: kInvalid below
  pg::WalFileKind kind = pg::ClassifyWalFileName(name);
  if (kind != pg::WalFileKind::kSegment && kind != pg::WalFileKind::kPartial) return Status::Ok();
  auto header = pg::ParseWalSegmentHeader(content);
  if (!header.ok())
    return Status::Corruption(
        fmt::format("WAL object '{}' is not a WAL segment: {}", key, header.status().message()));
  Status s =
      pg::CheckSegmentIdentity(fmt::format("WAL object '{}'", key), name, *header, segment_size);
  if (s.ok()) return s;
  return std::move(Status::Corruption(s.message()))
      .WithHint(
          "it holds another segment than its name says (archived before pgvault checked page "
          "addresses): replay would read the wrong WAL; archive the real segment into a new "
          "repository, or recover from another repository that has it");
}

Status CheckArchivedWal(Repository& repo, std::string_view name, uint64_t segment_size) {
  PGV_ASSIGN_OR_RETURN(Bytes content, GetWal(repo, name));
  PGV_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  return CheckWalObjectContent(key, content, segment_size);
}

Result<PushOutcome> PushStreamPartial(Repository& repo, std::string_view segment_name,
                                      ByteView content) {
  std::string key = StreamPartialKey(segment_name, content.size());
  Bytes obj(kWalMagicV2.begin(), kWalMagicV2.end());
  repo.codec().EncodeAppend(content, AsBytes(StreamAad(key)), obj);
  Status s = repo.storage().Put(key, obj, {.if_absent = true});
  if (s.ok()) return PushOutcome::kStored;
  if (s.code() != Code::kConflict) return s.Context(fmt::format("storing '{}'", key));
  PGV_ASSIGN_OR_RETURN(Bytes existing, repo.storage().Get(key));
  auto old = UnsealStream(repo, key, content.size(), existing);
  if (old.ok() && std::equal(old->begin(), old->end(), content.begin(), content.end()))
    return PushOutcome::kAlreadyArchived;
  return Status::Conflict(fmt::format(
      "'{}' is already stored with different content; the repository was not changed", key));
}

Result<std::optional<Bytes>> NewestStreamPartial(Repository& repo, std::string_view segment_name) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(StreamPartialPrefix(segment_name)));
  std::optional<StreamPartialName> newest;
  std::string newest_key;
  for (const auto& obj : objects) {
    auto parsed = ParseStreamPartialKey(obj.key);
    if (parsed && parsed->segment == segment_name && (!newest || parsed->length > newest->length)) {
      newest = parsed;
      newest_key = obj.key;
    }
  }
  if (!newest) return std::optional<Bytes>();
  PGV_ASSIGN_OR_RETURN(Bytes sealed, repo.storage().Get(newest_key));
  PGV_ASSIGN_OR_RETURN(Bytes plain, UnsealStream(repo, newest_key, newest->length, sealed));
  return std::optional<Bytes>(std::move(plain));
}

Status DeleteStreamPartials(Repository& repo, std::string_view segment_name, uint64_t keep_length) {
  PGV_ASSIGN_OR_RETURN(auto objects, repo.storage().List(StreamPartialPrefix(segment_name)));
  for (const auto& obj : objects) {
    auto parsed = ParseStreamPartialKey(obj.key);
    if (!parsed || (keep_length > 0 && parsed->length >= keep_length)) continue;
    Status s = repo.storage().Delete(obj.key);
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  return Status::Ok();
}

Result<Bytes> PadStreamPart(std::string_view name, Bytes part, uint64_t segment_size) {
  // XLogLongPageHeaderData: xlp_seg_size is the little-endian uint32 at offset 32.
  constexpr size_t kSegSizeOffset = 32;
  if (segment_size == 0 && part.size() >= kSegSizeOffset + 4)
    for (size_t i = 0; i < 4; ++i)
      segment_size |= static_cast<uint64_t>(part[kSegSizeOffset + i]) << (8 * i);
  if (segment_size < part.size() || segment_size > (1ull << 30))
    return Status::Corruption(
        fmt::format("the streamed part of '{}' ({} bytes) does not fit a "
                    "segment of {} bytes",
                    name, part.size(), segment_size));
  part.resize(segment_size, 0);
  auto header = pg::ParseWalSegmentHeader(part);
  Status s = header.ok() ? pg::CheckSegmentIdentity(fmt::format("the streamed part of '{}'", name),
                                                    name, *header, segment_size)
                         : header.status();
  if (!s.ok()) return Status::Corruption(s.message());
  return part;
}

Result<std::optional<StreamedPosition>> LatestStreamedPosition(storage::Storage& storage) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kStreamPrefix));
  std::optional<StreamedPosition> latest;
  for (const auto& obj : objects)
    if (auto parsed = ParseStreamPartialKey(obj.key)) {
      StreamedPosition at{parsed->segment, parsed->length, obj.mtime_unix};
      // Segment names sort as WAL does (timeline first), then the length streamed.
      if (!latest || std::tie(at.segment, at.length) > std::tie(latest->segment, latest->length))
        latest = std::move(at);
    }
  return latest;
}

Result<std::vector<WalFileInfo>> ListWal(storage::Storage& storage) {
  PGV_ASSIGN_OR_RETURN(auto objects, storage.List(kWalPrefix));
  std::vector<WalFileInfo> out;
  for (const auto& obj : objects) {
    auto name = WalNameFromKey(obj.key);
    if (!name) continue;
    out.push_back({std::move(*name), obj.size});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace pgvault::repo

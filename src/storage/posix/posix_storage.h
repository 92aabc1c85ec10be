// PosixStorage: a repository in a local directory. Put writes a temp file, fsyncs it, renames
// (or links, for if_absent) it into place and fsyncs the directory, so a crash at any moment
// leaves either the old state or the complete new object, never a torn one. A writer killed
// before its rename leaves its temp file, which no listing shows and gc removes once it is old.
#pragma once

#include <string>

#include "common/file.h"
#include "storage/storage.h"

namespace pgvault::storage {

class PosixStorage : public Storage {
 public:
  // create_root: make the repository directory if it is missing (repo-create only). Otherwise
  // a missing root is kUnavailable: an unmounted disk must not silently become an empty repository.
  explicit PosixStorage(std::string root, bool create_root = false)
      : root_(std::move(root)), create_root_(create_root) {}
  using Storage::Get;
  using Storage::Put;
  Features features() const override;
  std::string Describe() const override { return root_; }
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  // The temp files of writers killed before their rename (names starting with kTempFileMarker).
  Result<AbandonedWrites> RemoveAbandonedWrites(int64_t older_than_unix, bool dry_run) override;

 private:
  std::string Path(std::string_view key) const;
  std::string root_;
  bool create_root_;
};

}  // namespace pgvault::storage

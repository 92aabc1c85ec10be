#include <fmt/format.h>

#include "storage/posix/posix_storage.h"
#include "storage/storage.h"

namespace pgvault::storage {

Result<std::unique_ptr<Storage>> OpenStorage(std::string_view location, const OpenOptions& options) {
  (void)options;
  if (location.empty())
    return std::move(Status::Config("no repository given"))
        .WithHint("pass --repo DIR, set PGVAULT_REPO or 'repo' in the config file");
  if (location.starts_with("s3://"))
    return std::move(Status::Config(fmt::format("repository '{}': S3 is not built in yet", location)))
        .WithHint("use a local directory");
  std::string root(location);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::unique_ptr<Storage>(new PosixStorage(root));
}

}  // namespace pgvault::storage

#include <fmt/format.h>

#include <cstdlib>

#include "common/crash_point.h"
#include "storage/crash_point_storage.h"
#include "storage/posix/posix_storage.h"
#include "storage/s3/s3_storage.h"
#include "storage/storage.h"

namespace pgvault::storage {
namespace {

std::string FirstEnv(std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return value;
  return "";
}

// "s3://BUCKET[/PREFIX]": options from the caller, then the AWS_* environment, then defaults.
Result<std::unique_ptr<Storage>> OpenS3(std::string_view location, const OpenOptions& options) {
  std::string_view rest = location.substr(5);
  size_t slash = rest.find('/');
  s3::S3Options s3{
      .bucket = std::string(rest.substr(0, slash)),
      .prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1)),
      .endpoint = options.s3_endpoint,
      .region = options.s3_region,
      .uri_style = options.s3_uri_style,
      .ca_file = options.s3_ca_file,
      .storage_class = options.s3_storage_class,
      .object_lock = options.s3_object_lock};
  if (options.s3_timeout_s > 0) s3.http.stall_timeout_s = options.s3_timeout_s;
  if (s3.bucket.empty())
    return std::move(Status::Config(fmt::format("repository '{}' names no bucket", location)))
        .WithHint("write it as s3://BUCKET/PREFIX");
  if (s3.endpoint.empty()) s3.endpoint = FirstEnv({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
  if (s3.region.empty()) s3.region = FirstEnv({"AWS_REGION", "AWS_DEFAULT_REGION"});
  PGV_ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Storage> storage, s3::S3Storage::Open(std::move(s3)));
  return std::unique_ptr<Storage>(std::move(storage));
}

Result<std::unique_ptr<Storage>> OpenDriver(std::string_view location, const OpenOptions& options) {
  if (location.empty())
    return std::move(Status::Config("no repository given"))
        .WithHint("pass --repo DIR, set PGVAULT_REPO or 'repo' in the config file");
  if (location.starts_with("s3://")) return OpenS3(location, options);
  std::string root(location);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::unique_ptr<Storage>(new PosixStorage(root, options.create));
}

}  // namespace

Result<std::unique_ptr<Storage>> OpenStorage(std::string_view location,
                                             const OpenOptions& options) {
  PGV_ASSIGN_OR_RETURN(std::unique_ptr<Storage> storage, OpenDriver(location, options));
  if (!CrashPointsArmed()) return storage;
  return std::unique_ptr<Storage>(new CrashPointStorage(std::move(storage)));
}

}  // namespace pgvault::storage

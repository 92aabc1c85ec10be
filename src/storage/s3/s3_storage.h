// S3Storage: a repository under s3://BUCKET/PREFIX on AWS S3 or a compatible server (Ceph RADOS
// Gateway, MinIO), spoken to directly over HTTP(S) with libcurl and hand-written SigV4.
//
// Contract beyond storage::Storage:
// - Put is atomic because S3 PUTs are: a single PUT up to multipart_threshold, above it a
//   multipart upload whose parts go up in parallel; any failure aborts the upload, so no
//   partial object ever becomes visible. Content-MD5 is sent with every body.
// - if_absent uses "If-None-Match: *" (412 -> kConflict). Multipart uploads also check with a HEAD
//   first; servers that ignore If-None-Match on CompleteMultipartUpload (Ceph 16) leave a race.
// - lock_until_unix > 0 with object_lock set writes COMPLIANCE retention (the bucket must have
//   S3 Object Lock enabled); without object_lock it is ignored, as features() says.
// - Retryable failures (5xx, 429, SlowDown, timeouts, resets) are retried max_attempts times with
//   exponential backoff and jitter, then reported as kUnavailable naming the object.
// - Credentials never appear in messages or logs.
// Thread-safe: any method may be called from several threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/s3/http_client.h"
#include "storage/s3/sigv4.h"
#include "storage/storage.h"

namespace pgvault::storage::s3 {

struct S3Options {
  std::string bucket;
  std::string prefix;    // "" or "a/b" (no leading or trailing '/'): keys live under it
  std::string endpoint;  // "https://host[:port]"; "" = https://s3.REGION.amazonaws.com;
                         // http:// only for loopback hosts (test servers)
  std::string region = "us-east-1";
  std::string uri_style = "path";  // "path": host/bucket/key; "host": bucket.host/key
  std::string ca_file;             // PEM bundle for https; verification is always on
  std::string storage_class;       // default x-amz-storage-class when PutOptions has none
  bool object_lock = false;        // the bucket has Object Lock: honour lock_until_unix
  Credentials credentials;

  uint64_t multipart_threshold = 64ull << 20;  // objects above this use multipart upload
  uint64_t part_size = 16ull << 20;            // grown automatically to stay within 10000 parts
  int upload_threads = 4;                      // parts of one object uploaded in parallel
  int max_attempts = 5;                        // tries per request, including the first
  int retry_base_ms = 200;                     // first backoff; doubles per retry, with jitter
  int retry_max_ms = 20000;                    // cap of one backoff
  HttpOptions http;
};

// Reads PGVAULT_S3_KEY / PGVAULT_S3_KEY_SECRET, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
// plus AWS_SESSION_TOKEN. kConfig (with a hint) when no key pair is set.
Result<Credentials> CredentialsFromEnv();

class S3Storage : public Storage {
 public:
  // Validates options (no network traffic). kConfig on a bad endpoint, bucket or style.
  static Result<std::unique_ptr<S3Storage>> Open(S3Options options);
  ~S3Storage() override;

  using Storage::Get;  // the convenience overloads without options or range
  using Storage::Put;
  Features features() const override;
  std::string Describe() const override;
  Status Put(std::string_view key, ByteView data, const PutOptions& options) override;
  Result<Bytes> Get(std::string_view key, Range range) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Status ExtendRetention(std::string_view key, int64_t until_unix) override;
  Status SetLegalHold(std::string_view key, bool on) override { return PutLegalHold(key, on); }
  // The Date header of a HEAD of the bucket (any HTTP status carries one); nullopt when the
  // server sends none or an unparsable one.
  Result<std::optional<int64_t>> ServerTimeUnix() override;
  // Aborts the multipart uploads under the prefix started before older_than_unix.
  Result<AbandonedWrites> RemoveAbandonedWrites(int64_t older_than_unix, bool dry_run) override;

  // Deletes keys in batches of 1000 (DeleteObjects); missing keys are OK. On a versioned
  // bucket this adds delete markers, like Delete. With failed, the keys the server refused are
  // listed there (key, "Code: message") instead of failing the call.
  Status DeleteMany(const std::vector<std::string>& keys,
                    std::vector<std::pair<std::string, std::string>>* failed = nullptr);
  // Storage::DeleteBatch by DeleteMany (s3_delete_batch.cc): keys refused because they are
  // locked (AccessDenied under Object Lock) are kept and returned.
  Result<std::vector<KeptObject>> DeleteBatch(const std::vector<std::string>& keys) override;
  // Sets or extends COMPLIANCE retention of the current version. Shortening is refused (kIo).
  Status PutRetention(std::string_view key, int64_t until_unix);
  // Turns the legal hold of the current version on or off.
  Status PutLegalHold(std::string_view key, bool on);
  // The version id of the current version (versioned buckets), kNotFound when missing.
  Result<std::string> CurrentVersion(std::string_view key);
  // Deletes one version for good; refused (kIo, HTTP 403) while it is locked or on hold.
  Status DeleteVersion(std::string_view key, std::string_view version_id);

 private:
  struct Call;
  struct Reply;
  explicit S3Storage(S3Options options);

  // Sends call, retrying retryable failures; returns the last reply for any other status.
  Result<Reply> Execute(const Call& call);
  // Error status for a non-2xx reply: kNotFound, kConflict or kIo with server code and message.
  Status ReplyError(const Call& call, const Reply& reply) const;
  // PUT of an object's ?retention or ?legal-hold XML.
  Status PutObjectLockSetting(std::string_view key, const char* subresource,
                              const std::string& xml);
  std::string ObjectName(std::string_view key) const;  // "prefix/key"
  std::string Url(std::string_view object, const std::string& query) const;
  std::string DisplayName(std::string_view object) const;  // "s3://bucket/prefix/key"

  Status PutSingle(std::string_view key, ByteView data, const PutOptions& options);
  Status PutMultipart(std::string_view key, ByteView data, const PutOptions& options);
  Status AbortMultipart(std::string_view key, const std::string& upload_id);
  void AddPutHeaders(const PutOptions& options, NameValues& headers) const;

  S3Options options_;
  std::string scheme_;  // "http" or "https"
  std::string host_;    // endpoint host[:port] as given
  std::string prefix_;  // options_.prefix + "/" or ""
  std::unique_ptr<HttpClient> http_;
  std::atomic<uint64_t> requests_[5] = {};  // PUT, GET, HEAD, POST, DELETE (first attempts)
  std::atomic<uint64_t> retries_{0};
};

}  // namespace pgvault::storage::s3

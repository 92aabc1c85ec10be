#include "storage/s3/s3_storage.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/work_queue.h"
#include "storage/s3/s3_request.h"
#include "storage/s3/xml.h"

namespace pgvault::storage::s3 {

namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for all parts but the last
constexpr size_t kDeleteBatch = 1000;          // DeleteObjects takes at most 1000 keys

// "2009-10-12T17:50:30.000Z" from ListObjectsV2; 0 when unparsable.
int64_t ParseIso8601(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

// "Wed, 21 Oct 2015 07:28:00 GMT" from Last-Modified; 0 when unparsable. By hand, because
// strptime's %b depends on the locale.
int64_t ParseHttpDate(const std::string& s) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  size_t comma = s.find(", ");
  if (comma == std::string::npos) return 0;
  std::tm tm{};
  char month[4] = "";
  if (std::sscanf(s.c_str() + comma + 2, "%d %3s %d %d:%d:%d", &tm.tm_mday, month, &tm.tm_year,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_mon = -1;
  for (int month_idx = 0; month_idx < 12; ++month_idx)
    if (std::string_view(month) == kMonths[month_idx]) tm.tm_mon = month_idx;
  if (tm.tm_mon < 0) return 0;
  tm.tm_year -= 1900;
  return timegm(&tm);
}

bool IsLoopback(std::string_view host) {
  // host may carry a port: "127.0.0.1:7480", "[::1]:7480", "localhost:7480".
  std::string_view name = host;
  if (name.starts_with("[")) {
    name = name.substr(1, name.find(']') - 1);
  } else if (size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return name == "localhost" || name == "::1" || name.starts_with("127.");
}

bool RetryableStatus(long status, const std::string& code) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429 ||
         status == 408 || code == "SlowDown" || code == "RequestTimeout" || code == "InternalError";
}

// Delay before retry number `retry` (1-based): exponential, capped, with "equal jitter" so
// that clients throttled together do not come back together.
std::chrono::milliseconds Backoff(int retry, int base_ms, int max_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t delay =
      std::min<int64_t>(max_ms, static_cast<int64_t>(base_ms) << std::min(retry - 1, 20));
  std::uniform_int_distribution<int64_t> jitter(delay / 2, delay);
  return std::chrono::milliseconds(jitter(rng));
}

std::string Detail(const HttpResponse& http, const std::string& code, const std::string& message) {
  std::string out = fmt::format("HTTP {}", http.status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace

Result<Credentials> CredentialsFromEnv() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  Credentials c;
  if (!env("PGVAULT_S3_KEY").empty()) {
    c.access_key_id = env("PGVAULT_S3_KEY");
    c.secret_access_key = env("PGVAULT_S3_KEY_SECRET");
  } else {
    c.access_key_id = env("AWS_ACCESS_KEY_ID");
    c.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
  }
  c.session_token = env("AWS_SESSION_TOKEN");
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return std::move(Status::Config("no S3 credentials: an access key and its secret are needed"))
        .WithHint(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or PGVAULT_S3_KEY and "
            "PGVAULT_S3_KEY_SECRET)");
  return c;
}

Result<std::unique_ptr<S3Storage>> S3Storage::Open(S3Options options) {
  if (options.bucket.empty() || options.bucket.find('/') != std::string::npos)
    return Status::Config(fmt::format("invalid S3 bucket name '{}'", options.bucket));
  if (options.region.empty()) options.region = "us-east-1";
  if (options.uri_style.empty()) options.uri_style = "path";
  if (options.uri_style != "path" && options.uri_style != "host")
    return Status::Config(
        fmt::format("S3 URI style is 'path' or 'host', not '{}'", options.uri_style));
  if (options.endpoint.empty())
    options.endpoint = fmt::format("https://s3.{}.amazonaws.com", options.region);
  while (options.endpoint.ends_with("/")) options.endpoint.pop_back();
  std::string scheme;
  std::string host;
  if (options.endpoint.starts_with("https://")) {
    scheme = "https";
    host = options.endpoint.substr(8);
  } else if (options.endpoint.starts_with("http://")) {
    scheme = "http";
    host = options.endpoint.substr(7);
  } else {
    return std::move(Status::Config(fmt::format("invalid S3 endpoint '{}'", options.endpoint)))
        .WithHint("write it as https://HOST[:PORT]");
  }
  if (host.empty() || host.find('/') != std::string::npos)
    return std::move(Status::Config(fmt::format("invalid S3 endpoint '{}'", options.endpoint)))
        .WithHint("write it as https://HOST[:PORT], without a path");
  if (scheme == "http" && !IsLoopback(host))
    return std::move(
               Status::Config(fmt::format("S3 endpoint '{}' is plain http and not on this machine",
                                          options.endpoint)))
        .WithHint("use https://; plain http is only accepted for loopback test servers");
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
    PGV_ASSIGN_OR_RETURN(options.credentials, CredentialsFromEnv());
  }
  if (options.part_size < kMinPartSize) options.part_size = kMinPartSize;
  if (options.upload_threads < 1) options.upload_threads = 1;
  if (options.max_attempts < 1) options.max_attempts = 1;
  while (options.prefix.starts_with("/")) options.prefix.erase(0, 1);
  while (options.prefix.ends_with("/")) options.prefix.pop_back();

  std::unique_ptr<S3Storage> storage(new S3Storage(std::move(options)));
  storage->scheme_ = scheme;
  storage->host_ = host;
  return storage;
}

S3Storage::S3Storage(S3Options options)
    : options_(std::move(options)),
      prefix_(options_.prefix.empty() ? "" : options_.prefix + "/"),
      http_(std::make_unique<HttpClient>(options_.http)) {}

S3Storage::~S3Storage() {
  // Request counts per run: what a backup or restore cost in S3 calls (visible with --log-level
  // info).
  log::Info("s3 requests to '{}': {} PUT, {} GET, {} HEAD, {} POST, {} DELETE, {} retries",
            Describe(), requests_[0].load(), requests_[1].load(), requests_[2].load(),
            requests_[3].load(), requests_[4].load(), retries_.load());
  // The secret stays in memory only as long as the driver does.
  OPENSSL_cleanse(options_.credentials.secret_access_key.data(),
                  options_.credentials.secret_access_key.size());
}

Features S3Storage::features() const {
  return Features{.atomic_if_absent = true, .object_lock = options_.object_lock, .local = false};
}

std::string S3Storage::Describe() const {
  return options_.prefix.empty() ? fmt::format("s3://{}", options_.bucket)
                                 : fmt::format("s3://{}/{}", options_.bucket, options_.prefix);
}

std::string S3Storage::ObjectName(std::string_view key) const { return prefix_ + std::string(key); }

std::string S3Storage::DisplayName(std::string_view object) const {
  return fmt::format("s3://{}/{}", options_.bucket, object);
}

std::string S3Storage::Url(std::string_view object, const std::string& query) const {
  std::string url =
      options_.uri_style == "host"
          ? fmt::format("{}://{}.{}/{}", scheme_, options_.bucket, host_, UriEncode(object, false))
          : fmt::format("{}://{}/{}/{}", scheme_, host_, options_.bucket, UriEncode(object, false));
  if (!query.empty()) url += "?" + query;
  return url;
}

Result<S3Storage::Reply> S3Storage::Execute(const Call& call) {
  static const char* kMethods[] = {"PUT", "GET", "HEAD", "POST", "DELETE"};
  for (size_t method_idx = 0; method_idx < 5; ++method_idx)
    if (call.method == kMethods[method_idx]) requests_[method_idx]++;
  const std::string query = CanonicalQuery(call.query);
  const std::string url = Url(call.object, query);
  // The signed path is the URL's path, exactly as sent.
  const size_t path_start = url.find('/', url.find("://") + 3);
  const size_t path_end = url.find('?', path_start);
  const std::string path = url.substr(path_start, path_end - path_start);
  const std::string host = options_.uri_style == "host" ? options_.bucket + "." + host_ : host_;
  const std::string payload_hash = call.sign_body      ? Sha256Hex(call.body)
                                   : call.body.empty() ? std::string(kEmptySha256)
                                                       : std::string("UNSIGNED-PAYLOAD");
  const std::string name = call.display.empty() ? DisplayName(call.object) : call.display;

  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    SigningRequest signing{.method = call.method, .path = path, .query = call.query};
    std::string amz_date = AmzDate(std::time(nullptr));
    signing.headers = {
        {"host", host}, {"x-amz-date", amz_date}, {"x-amz-content-sha256", payload_hash}};
    if (!options_.credentials.session_token.empty())
      signing.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
    for (const auto& header : call.headers) signing.headers.push_back(header);
    signing.payload_hash = payload_hash;

    HttpRequest request{
        .method = call.method, .url = url, .headers = signing.headers, .body = call.body};
    request.headers.emplace_back("Authorization", Authorization(signing, options_.credentials,
                                                                options_.region, "s3", amz_date));
    if (!call.content_type.empty()) request.headers.emplace_back("Content-Type", call.content_type);

    Result<HttpResponse> response = http_->Perform(request);
    if (!response.ok()) {
      if (!response.status().retryable())
        return Status(response.status()).Context(fmt::format("s3 {} '{}'", call.method, name));
      last_error = response.status().message();
    } else {
      Reply reply{.http = std::move(response).value(), .attempts = attempt};
      if (!reply.ok() && !reply.http.body.empty()) {
        std::string_view body = AsString(reply.http.body);
        reply.code = XmlText(body, "Code");
        reply.message = XmlText(body, "Message");
      }
      if (reply.ok() || !RetryableStatus(reply.http.status, reply.code)) return reply;
      last_error = Detail(reply.http, reply.code, reply.message);
    }
    if (attempt >= options_.max_attempts)
      return Status::Unavailable(fmt::format("s3 {} '{}' failed after {} attempt{}: {}",
                                             call.method, name, attempt, attempt == 1 ? "" : "s",
                                             last_error));
    auto delay = Backoff(attempt, options_.retry_base_ms, options_.retry_max_ms);
    retries_++;
    log::Warn("s3 {} '{}' attempt {} of {} failed: {}; retrying in {} ms", call.method, name,
              attempt, options_.max_attempts, last_error, delay.count());
    std::this_thread::sleep_for(delay);
  }
}

Status S3Storage::ReplyError(const Call& call, const Reply& reply) const {
  const std::string name = call.display.empty() ? DisplayName(call.object) : call.display;
  const std::string detail = Detail(reply.http, reply.code, reply.message);
  switch (reply.http.status) {
    case 404:
      if (reply.code == "NoSuchBucket")
        return std::move(
                   Status::Config(fmt::format("s3 bucket '{}' does not exist", options_.bucket)))
            .WithHint("check the bucket name, the endpoint and the region");
      return Status::NotFound(fmt::format("'{}' not found", name));
    case 412:
      return Status::Conflict(fmt::format("'{}' already exists", name));
    case 400:
      if (reply.code == "AuthorizationHeaderMalformed")
        return std::move(
                   Status::Config(fmt::format("s3 {} '{}' refused: {}", call.method, name, detail)))
            .WithHint(fmt::format("check the region (now '{}')", options_.region));
      break;
    case 401:
    case 403:
      return std::move(Status::Io(fmt::format("s3 {} '{}' refused: {}", call.method, name, detail)))
          .WithHint(
              "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
              "PGVAULT_S3_KEY/PGVAULT_S3_KEY_SECRET), the region and the bucket's permissions; "
              "a locked object cannot be deleted or overwritten until its retention ends");
    default:
      break;
  }
  return Status::Io(fmt::format("s3 {} '{}' failed: {}", call.method, name, detail));
}

Result<Bytes> S3Storage::Get(std::string_view key, Range range) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  if (range.length && *range.length == 0) {
    PGV_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
    (void)info;
    return Bytes();
  }
  Call call{.method = "GET", .object = ObjectName(key)};
  const bool ranged = range.offset > 0 || range.length.has_value();
  if (ranged) {
    call.headers.emplace_back("range", range.length ? fmt::format("bytes={}-{}", range.offset,
                                                                  range.offset + *range.length - 1)
                                                    : fmt::format("bytes={}-", range.offset));
  }
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (reply.http.status == 206) return std::move(reply.http.body);
  if (reply.http.status == 200) {
    if (!ranged) return std::move(reply.http.body);
    // The server ignored the Range header: cut the range out of the whole object.
    Bytes& all = reply.http.body;
    uint64_t begin = std::min<uint64_t>(range.offset, all.size());
    uint64_t len =
        std::min<uint64_t>(range.length.value_or(all.size() - begin), all.size() - begin);
    return Bytes(all.begin() + static_cast<ptrdiff_t>(begin),
                 all.begin() + static_cast<ptrdiff_t>(begin + len));
  }
  // 416: the object exists but the range starts at or past its end.
  if (reply.http.status == 416) return Bytes();
  return ReplyError(call, reply);
}

Result<std::vector<ObjectInfo>> S3Storage::List(std::string_view prefix) {
  const std::string full_prefix = prefix_ + std::string(prefix);
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    Call call{.method = "GET",
              .display = DisplayName(full_prefix),
              .query = {{"list-type", "2"}, {"prefix", full_prefix}, {"max-keys", "1000"}}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
    if (!reply.ok()) return ReplyError(call, reply);
    std::string_view body = AsString(reply.http.body);
    for (std::string_view contents : XmlElements(body, "Contents")) {
      std::string object = XmlText(contents, "Key");
      if (!object.starts_with(prefix_)) continue;  // cannot happen; never return foreign keys
      out.push_back(
          ObjectInfo{.key = object.substr(prefix_.size()),
                     .size = std::strtoull(XmlText(contents, "Size").c_str(), nullptr, 10),
                     .mtime_unix = ParseIso8601(XmlText(contents, "LastModified"))});
    }
    if (XmlText(body, "IsTruncated") != "true") break;
    token = XmlText(body, "NextContinuationToken");
    if (token.empty())
      return Status::Io(
          fmt::format("s3 GET '{}': truncated listing without a continuation token", call.display));
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Result<Storage::AbandonedWrites> S3Storage::RemoveAbandonedWrites(int64_t older_than_unix,
                                                                  bool dry_run) {
  // A writer killed during a multipart upload leaves it open: no listing of objects shows its
  // parts, and they cost storage until aborted. ListMultipartUploads names them with their
  // start; sizes would cost a ListParts request each, so bytes stays 0.
  AbandonedWrites out;
  std::string key_marker, upload_marker;
  for (;;) {
    Call call{.method = "GET",
              .display = DisplayName(prefix_),
              .query = {{"uploads", ""}, {"prefix", prefix_}}};
    if (!key_marker.empty()) {
      call.query.emplace_back("key-marker", key_marker);
      call.query.emplace_back("upload-id-marker", upload_marker);
    }
    PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
    if (!reply.ok()) return ReplyError(call, reply);
    std::string_view body = AsString(reply.http.body);
    for (std::string_view upload : XmlElements(body, "Upload")) {
      std::string object = XmlText(upload, "Key");
      if (!object.starts_with(prefix_)) continue;  // never touch what is not ours
      int64_t initiated = ParseIso8601(XmlText(upload, "Initiated"));
      if (initiated == 0 || initiated >= older_than_unix) continue;
      if (!dry_run)
        PGV_RETURN_IF_ERROR(
            AbortMultipart(object.substr(prefix_.size()), XmlText(upload, "UploadId")));
      out.count++;
    }
    if (XmlText(body, "IsTruncated") != "true") break;
    key_marker = XmlText(body, "NextKeyMarker");
    upload_marker = XmlText(body, "NextUploadIdMarker");
    if (key_marker.empty())
      return Status::Io(fmt::format(
          "s3 GET '{}': truncated list of multipart uploads without a marker", call.display));
  }
  return out;
}

Result<ObjectInfo> S3Storage::Stat(std::string_view key) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  Call call{.method = "HEAD", .object = ObjectName(key)};
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (!reply.ok()) return ReplyError(call, reply);
  std::string until = reply.http.Header("x-amz-object-lock-retain-until-date");
  return ObjectInfo{.key = std::string(key),
                    .size = std::strtoull(reply.http.Header("content-length").c_str(), nullptr, 10),
                    .mtime_unix = ParseHttpDate(reply.http.Header("last-modified")),
                    .retain_until_unix = until.empty() ? 0 : ParseIso8601(until),
                    .legal_hold = reply.http.Header("x-amz-object-lock-legal-hold") == "ON"};
}

Result<std::optional<int64_t>> S3Storage::ServerTimeUnix() {
  // HeadBucket: the bucket's root, "bucket/" or "bucket./" by uri style. A refusal (403 when
  // the clock is far off, 404) still carries the server's Date.
  Call call{.method = "HEAD", .object = "", .display = fmt::format("s3://{}", options_.bucket)};
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  int64_t date = ParseHttpDate(reply.http.Header("date"));
  if (date == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(date);
}

Status S3Storage::ExtendRetention(std::string_view key, int64_t until_unix) {
  // COMPLIANCE retention can only grow: look first, so a later date already set is not an error.
  PGV_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
  if (info.retain_until_unix >= until_unix) return Status::Ok();
  return PutRetention(key, until_unix);
}

Status S3Storage::Delete(std::string_view key) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  Call call{.method = "DELETE", .object = ObjectName(key)};
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (reply.ok() || reply.http.status == 404) return Status::Ok();
  return ReplyError(call, reply);
}

Status S3Storage::DeleteMany(const std::vector<std::string>& keys,
                             std::vector<std::pair<std::string, std::string>>* failed) {
  for (const std::string& key : keys) PGV_RETURN_IF_ERROR(ValidateKey(key));
  size_t failures = 0;
  std::string first_failure;
  for (size_t begin = 0; begin < keys.size(); begin += kDeleteBatch) {
    size_t end = std::min(keys.size(), begin + kDeleteBatch);
    std::string xml = "<Delete xmlns=\"" + std::string(kS3Namespace) + "\"><Quiet>true</Quiet>";
    for (size_t key_idx = begin; key_idx < end; ++key_idx)
      xml += "<Object><Key>" + XmlEscape(ObjectName(keys[key_idx])) + "</Key></Object>";
    xml += "</Delete>";
    Call call{.method = "POST",
              .display = Describe(),
              .query = {{"delete", ""}},
              .body = AsBytes(xml),
              .sign_body = true,
              .content_type = "application/xml"};
    // DeleteObjects requires Content-MD5 (or a checksum header).
    call.headers.emplace_back("content-md5", ComputeMd5(call.body).base64);
    PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
    if (!reply.ok()) return ReplyError(call, reply);
    for (std::string_view error : XmlElements(AsString(reply.http.body), "Error")) {
      std::string code = XmlText(error, "Code");
      if (code == "NoSuchKey") continue;
      if (failed) {
        failed->emplace_back(XmlText(error, "Key"), code + ": " + XmlText(error, "Message"));
        continue;
      }
      if (failures++ == 0)
        first_failure = fmt::format("'{}': {} {}", DisplayName(XmlText(error, "Key")), code,
                                    XmlText(error, "Message"));
    }
  }
  if (failures > 0)
    return Status::Io(fmt::format("s3 DeleteObjects in '{}' failed for {} of {} keys; first {}",
                                  Describe(), failures, keys.size(), first_failure));
  return Status::Ok();
}

Result<std::string> S3Storage::CurrentVersion(std::string_view key) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  Call call{.method = "HEAD", .object = ObjectName(key)};
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (!reply.ok()) return ReplyError(call, reply);
  std::string version = reply.http.Header("x-amz-version-id");
  return version.empty() ? std::string("null") : version;
}

Status S3Storage::DeleteVersion(std::string_view key, std::string_view version_id) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  Call call{.method = "DELETE",
            .object = ObjectName(key),
            .query = {{"versionId", std::string(version_id)}}};
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (reply.ok() || reply.http.status == 404) return Status::Ok();
  return ReplyError(call, reply);
}

}  // namespace pgvault::storage::s3

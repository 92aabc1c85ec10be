#include "storage/s3/s3_storage.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/work_queue.h"
#include "storage/s3/xml.h"

namespace pgvault::storage::s3 {

struct S3Storage::Call {
  std::string method;
  std::string object;   // full object name, prefix included; "" addresses the bucket
  std::string display;  // name for messages when not the object's, e.g. a listed prefix
  NameValues query;     // decoded
  NameValues headers;   // sent and signed
  ByteView body;
  bool sign_body = false;  // x-amz-content-sha256 = SHA-256 of the body (small XML bodies)
  std::string content_type;
};

struct S3Storage::Reply {
  HttpResponse http;
  int attempts = 0;
  std::string code;     // <Code> of an error body, e.g. "NoSuchKey"
  std::string message;  // <Message> of an error body; Ceph mostly leaves it empty
  bool ok() const { return http.status >= 200 && http.status < 300; }
};

namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for all parts but the last
constexpr uint64_t kMaxParts = 10000;
constexpr size_t kDeleteBatch = 1000;  // DeleteObjects takes at most 1000 keys
constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos)
    return Status::Internal(fmt::format("invalid storage key '{}'", key));
  return Status::Ok();
}

struct Md5 {
  std::string base64;  // Content-MD5 header value
  std::string hex;     // what a single PUT's ETag is
};

Md5 ComputeMd5(ByteView data) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  char b64[64];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), digest, static_cast<int>(len));
  return Md5{std::string(b64, static_cast<size_t>(n)), ToHex(ByteView(digest, len))};
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// "2026-11-28T21:04:23Z" (what S3 wants for retain-until dates).
std::string FormatIso8601(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

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

void S3Storage::AddPutHeaders(const PutOptions& options, NameValues& headers) const {
  const std::string& storage_class =
      options.storage_class.empty() ? options_.storage_class : options.storage_class;
  if (!storage_class.empty()) headers.emplace_back("x-amz-storage-class", storage_class);
  if (options_.object_lock && options.lock_until_unix > 0) {
    headers.emplace_back("x-amz-object-lock-mode", "COMPLIANCE");
    headers.emplace_back("x-amz-object-lock-retain-until-date",
                         FormatIso8601(options.lock_until_unix));
  }
}

Status S3Storage::Put(std::string_view key, ByteView data, const PutOptions& options) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  if (data.size() > options_.multipart_threshold) return PutMultipart(key, data, options);
  return PutSingle(key, data, options);
}

Status S3Storage::PutSingle(std::string_view key, ByteView data, const PutOptions& options) {
  Md5 md5 = ComputeMd5(data);
  // Content-MD5 lets the server refuse a corrupted body; S3 also requires it with object lock.
  Call call{.method = "PUT", .object = ObjectName(key), .body = data};
  call.headers.emplace_back("content-md5", md5.base64);
  if (options.if_absent) call.headers.emplace_back("if-none-match", "*");
  AddPutHeaders(options, call.headers);
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  if (reply.ok()) return Status::Ok();
  if (reply.http.status == 412 && reply.attempts > 1) {
    // An earlier attempt may have succeeded with its answer lost: then the object is ours.
    Call head{.method = "HEAD", .object = call.object};
    Result<Reply> current = Execute(head);
    if (current.ok() && current->ok() && Unquote(current->http.Header("etag")) == md5.hex)
      return Status::Ok();
  }
  return ReplyError(call, reply);
}

Status S3Storage::AbortMultipart(std::string_view key, const std::string& upload_id) {
  Call call{.method = "DELETE", .object = ObjectName(key), .query = {{"uploadId", upload_id}}};
  Result<Reply> reply = Execute(call);
  Status s = !reply.ok()                                ? reply.status()
             : reply->ok() || reply->http.status == 404 ? Status::Ok()
                                                        : ReplyError(call, *reply);
  if (!s.ok())
    log::Warn("cannot abort multipart upload of '{}' (a lifecycle rule can clean it up): {}",
              DisplayName(call.object), s.message());
  return s;
}

Status S3Storage::PutMultipart(std::string_view key, ByteView data, const PutOptions& options) {
  const std::string object = ObjectName(key);
  if (options.if_absent) {
    // Fail before uploading gigabytes; If-None-Match on the completion closes the race where
    // the server supports it.
    Result<ObjectInfo> existing = Stat(key);
    if (existing.ok())
      return Status::Conflict(fmt::format("'{}' already exists", DisplayName(object)));
    if (!existing.status().IsNotFound()) return existing.status();
  }

  Call create{.method = "POST", .object = object, .query = {{"uploads", ""}}};
  AddPutHeaders(options, create.headers);
  PGV_ASSIGN_OR_RETURN(Reply created, Execute(create));
  if (!created.ok()) return ReplyError(create, created);
  const std::string upload_id = XmlText(AsString(created.http.body), "UploadId");
  if (upload_id.empty())
    return Status::Io(fmt::format(
        "s3 POST '{}': no UploadId in the answer to CreateMultipartUpload", DisplayName(object)));

  uint64_t part_size = std::max(options_.part_size, (data.size() + kMaxParts - 1) / kMaxParts);
  const size_t parts = static_cast<size_t>((data.size() + part_size - 1) / part_size);
  std::vector<std::string> etags(parts);
  Status uploaded = ParallelFor(parts, options_.upload_threads, [&](size_t part_idx) {
    ByteView slice = data.subspan(
        part_idx * part_size, std::min<uint64_t>(part_size, data.size() - part_idx * part_size));
    Call call{.method = "PUT",
              .object = object,
              .query = {{"partNumber", std::to_string(part_idx + 1)}, {"uploadId", upload_id}},
              .body = slice};
    call.headers.emplace_back("content-md5", ComputeMd5(slice).base64);
    Result<Reply> reply = Execute(call);
    Status s = !reply.ok() ? reply.status() : reply->ok() ? Status::Ok() : ReplyError(call, *reply);
    if (s.ok() && reply->http.Header("etag").empty())
      s = Status::Io(
          fmt::format("s3 PUT '{}': no ETag for part {}", DisplayName(object), part_idx + 1));
    if (!s.ok()) return s.Context(fmt::format("part {} of {}", part_idx + 1, parts));
    etags[part_idx] = reply->http.Header("etag");
    return Status::Ok();
  });
  if (!uploaded.ok()) {
    (void)AbortMultipart(key, upload_id);
    return uploaded;
  }

  std::string xml = "<CompleteMultipartUpload xmlns=\"" + std::string(kS3Namespace) + "\">";
  for (size_t part_idx = 0; part_idx < parts; ++part_idx)
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part_idx + 1,
                       XmlEscape(etags[part_idx]));
  xml += "</CompleteMultipartUpload>";
  Call complete{.method = "POST",
                .object = object,
                .query = {{"uploadId", upload_id}},
                .body = AsBytes(xml),
                .sign_body = true,
                .content_type = "application/xml"};
  if (options.if_absent) complete.headers.emplace_back("if-none-match", "*");
  Result<Reply> completed = Execute(complete);
  Status s;
  if (!completed.ok()) {
    s = completed.status();
  } else if (!completed->ok()) {
    s = ReplyError(complete, *completed);
  } else if (std::string_view body = AsString(completed->http.body);
             body.find("<Error>") != std::string_view::npos) {
    // CompleteMultipartUpload can fail after answering 200: the error is in the body.
    s = Status::Io(fmt::format("s3 POST '{}' failed: {}: {}", DisplayName(object),
                               XmlText(body, "Code"), XmlText(body, "Message")));
  }
  if (!s.ok()) (void)AbortMultipart(key, upload_id);
  return s;
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

Status S3Storage::PutRetention(std::string_view key, int64_t until_unix) {
  return PutObjectLockSetting(
      key, "retention",
      fmt::format("<Retention xmlns=\"{}\"><Mode>COMPLIANCE</Mode><RetainUntilDate>{}"
                  "</RetainUntilDate></Retention>",
                  kS3Namespace, FormatIso8601(until_unix)));
}

Status S3Storage::PutLegalHold(std::string_view key, bool on) {
  return PutObjectLockSetting(key, "legal-hold",
                              fmt::format("<LegalHold xmlns=\"{}\"><Status>{}</Status></LegalHold>",
                                          kS3Namespace, on ? "ON" : "OFF"));
}

// PUT ?retention and ?legal-hold: an XML body that S3 requires a Content-MD5 for.
Status S3Storage::PutObjectLockSetting(std::string_view key, const char* subresource,
                                       const std::string& xml) {
  PGV_RETURN_IF_ERROR(ValidateKey(key));
  Call call{.method = "PUT",
            .object = ObjectName(key),
            .query = {{subresource, ""}},
            .body = AsBytes(xml),
            .sign_body = true,
            .content_type = "application/xml"};
  call.headers.emplace_back("content-md5", ComputeMd5(call.body).base64);
  PGV_ASSIGN_OR_RETURN(Reply reply, Execute(call));
  return reply.ok() ? Status::Ok() : ReplyError(call, reply);
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

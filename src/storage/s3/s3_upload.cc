// S3Storage's writes: Put as a single PUT or a multipart upload, and the object lock settings
// of an object that exists.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/crash_point.h"
#include "common/log.h"
#include "common/time.h"
#include "common/work_queue.h"
#include "storage/s3/s3_request.h"
#include "storage/s3/s3_storage.h"
#include "storage/s3/xml.h"

namespace pgvault::storage::s3 {

void S3Storage::AddPutHeaders(const PutOptions& options, NameValues& headers) const {
  const std::string& storage_class =
      options.storage_class.empty() ? options_.storage_class : options.storage_class;
  if (!storage_class.empty()) headers.emplace_back("x-amz-storage-class", storage_class);
  if (options_.object_lock && options.lock_until_unix > 0) {
    headers.emplace_back("x-amz-object-lock-mode", "COMPLIANCE");
    headers.emplace_back("x-amz-object-lock-retain-until-date",
                         FormatIsoSeconds(options.lock_until_unix));
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

  CrashPoint(fmt::format("{} parts of {} uploaded, not yet completed", parts, key),
             CrashKind::kMidWrite);
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

Status S3Storage::PutRetention(std::string_view key, int64_t until_unix) {
  return PutObjectLockSetting(
      key, "retention",
      fmt::format("<Retention xmlns=\"{}\"><Mode>COMPLIANCE</Mode><RetainUntilDate>{}"
                  "</RetainUntilDate></Retention>",
                  kS3Namespace, FormatIsoSeconds(until_unix)));
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

}  // namespace pgvault::storage::s3

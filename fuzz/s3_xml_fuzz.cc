// S3 response bodies as the S3 driver reads them (src/storage/s3/s3_storage.cc, s3_upload.cc):
// ListObjectsV2 (Contents/Key/Size/LastModified, IsTruncated, NextContinuationToken), an error
// body (Code/Message), DeleteObjects' per-key errors and CreateMultipartUpload's UploadId.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "storage/s3/xml.h"

using namespace pgvault::storage::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view contents : XmlElements(body, "Contents")) {
    FUZZ_CHECK(contents.empty() ||
               (contents.data() >= body.data() &&
                contents.data() + contents.size() <= body.data() + body.size()));
    std::string key = XmlText(contents, "Key");
    unsigned long long object_size = std::strtoull(XmlText(contents, "Size").c_str(), nullptr, 10);
    std::string modified = XmlText(contents, "LastModified");
    (void)key, (void)object_size, (void)modified;
  }
  std::string truncated = XmlText(body, "IsTruncated");
  std::string token = XmlText(body, "NextContinuationToken");
  std::string code = XmlText(body, "Code");
  std::string message = XmlText(body, "Message");
  for (std::string_view error : XmlElements(body, "Error")) {
    std::string key = XmlText(error, "Key");
    (void)key;
  }
  std::string upload_id = XmlText(body, "UploadId");
  // Escaping then unescaping gives the text back.
  std::string text(body);
  FUZZ_CHECK(XmlUnescape(XmlEscape(text)) == text);
  return 0;
}

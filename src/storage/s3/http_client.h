// HttpClient: blocking HTTP/1.1 requests on libcurl, for the S3 driver. Keeps a pool of curl easy
// handles so that connections (and TLS sessions) are reused across requests and threads.
// Thread-safe: each Perform() borrows a handle from the pool and returns it afterwards.
// TLS peer and host verification are always on; ca_file replaces the system CA bundle.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "storage/s3/sigv4.h"

namespace pgvault::storage::s3 {

struct HttpOptions {
  std::string ca_file;              // PEM bundle to trust instead of the system's; empty = system
  long connect_timeout_ms = 10000;  // TCP (and TLS) connect
  long request_timeout_ms = 0;      // whole exchange, 0 = no limit (the stall limit still applies)
  long stall_timeout_s = 60;        // abort when below 1 KiB/s for this long
};

struct HttpRequest {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string url;     // scheme://host[:port]/path?query, already encoded
  NameValues headers;  // sent as given; curl adds Content-Length
  ByteView body;       // sent for PUT and POST, also when empty
};

struct HttpResponse {
  long status = 0;
  NameValues headers;  // names in lower case, in the order received
  Bytes body;          // empty for HEAD
  // Value of the first header with this (lower-case) name, or "".
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a success here. Transport failures (connect, reset, timeout) are
  // kUnavailable with curl's reason; a refused TLS certificate or a bad URL is kConfig.
  Result<HttpResponse> Perform(const HttpRequest& request);

 private:
  void* Acquire();  // a CURL*, from the pool or new
  void Release(void* handle);

  HttpOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;  // guarded by mu_
};

}  // namespace pgvault::storage::s3

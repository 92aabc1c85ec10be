#include "storage/s3/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "common/lazy_library.h"

namespace pgvault::storage::s3 {
namespace {

// libcurl's functions, loaded on first use (common/lazy_library.h says why).
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

Result<const CurlApi*> Curl() {
  auto api = LoadLibraryApi<CurlApi>("libcurl.so.4", "libcurl4", [](LazyLibrary& lib, CurlApi& a) {
    lib.Bind(a.global_init, "curl_global_init");
    lib.Bind(a.easy_init, "curl_easy_init");
    lib.Bind(a.easy_reset, "curl_easy_reset");
    lib.Bind(a.easy_setopt, "curl_easy_setopt");
    lib.Bind(a.easy_perform, "curl_easy_perform");
    lib.Bind(a.easy_getinfo, "curl_easy_getinfo");
    lib.Bind(a.easy_strerror, "curl_easy_strerror");
    lib.Bind(a.easy_cleanup, "curl_easy_cleanup");
    lib.Bind(a.slist_append, "curl_slist_append");
    lib.Bind(a.slist_free_all, "curl_slist_free_all");
  });
  // curl_global_init once (a function-local static is initialised once, even across threads),
  // after the library loaded with every function found.
  static const bool initialised = api.ok() && ((*api)->global_init(CURL_GLOBAL_DEFAULT), true);
  (void)initialised;
  return api;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  response->body.insert(response->body.end(), reinterpret_cast<uint8_t*>(data),
                        reinterpret_cast<uint8_t*>(data) + size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  // A new status line (after "100 Continue" or a redirect) starts a new header block.
  if (line.starts_with("HTTP/")) {
    response->headers.clear();
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (name == "content-length") {
    uint64_t n = std::strtoull(std::string(value).c_str(), nullptr, 10);
    // Reserve for the body, but never trust a header for more than 1 GiB up front.
    response->body.reserve(static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30)));
  }
  response->headers.emplace_back(std::move(name), std::string(value));
  return size * count;
}

bool IsConfigError(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {}

HttpClient::~HttpClient() {
  // Handles exist only if libcurl loaded.
  for (void* handle : idle_) (*Curl())->easy_cleanup(static_cast<CURL*>(handle));
}

void* HttpClient::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  auto api = Curl();
  return api.ok() ? (*api)->easy_init() : nullptr;
}

void HttpClient::Release(void* handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

Result<HttpResponse> HttpClient::Perform(const HttpRequest& request) {
  PGV_ASSIGN_OR_RETURN(const CurlApi* api, Curl());
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  // Reset clears the options of the previous request but keeps the connection cache.
  api->easy_reset(curl);

  HttpResponse response;
  char error[CURL_ERROR_SIZE] = "";
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    std::string line = name;
    line.append(": ").append(value);
    headers = api->slist_append(headers, line.c_str());
  }
  const bool has_body = request.method == "PUT" || request.method == "POST";
  if (has_body) {
    // No "Expect: 100-continue" round trip, and no form content type from POSTFIELDS.
    headers = api->slist_append(headers, "Expect:");
    bool has_type = std::any_of(request.headers.begin(), request.headers.end(), [](auto& h) {
      return h.first == "Content-Type" || h.first == "content-type";
    });
    if (!has_type) headers = api->slist_append(headers, "Content-Type:");
  }

  api->easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  api->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  api->easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  api->easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  api->easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  if (options_.request_timeout_ms > 0)
    api->easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
  api->easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  api->easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_s);
  api->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  api->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) api->easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  api->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  api->easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);

  if (request.method == "HEAD") {
    api->easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    // POSTFIELDS sends the caller's buffer without a copy; CUSTOMREQUEST turns POST into PUT.
    api->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    api->easy_setopt(
        curl, CURLOPT_POSTFIELDS,
        request.body.empty() ? "" : reinterpret_cast<const char*>(request.body.data()));
    api->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    api->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = api->easy_perform(curl);
  api->slist_free_all(headers);
  if (rc != CURLE_OK) {
    std::string reason = error[0] != '\0' ? error : api->easy_strerror(rc);
    // A failed handle may hold a broken connection; drop it rather than pool it.
    api->easy_cleanup(curl);
    if (IsConfigError(rc)) return Status::Config(reason);
    return Status::Unavailable(reason);
  }
  api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  Release(curl);
  return response;
}

}  // namespace pgvault::storage::s3

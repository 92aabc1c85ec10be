#include "s3_fault_proxy.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string_view>

#include "pg_cluster.h"

namespace pgvault::test {

struct S3FaultProxy::Worker {
  std::thread thread;
  std::atomic<bool> done{false};
};

namespace {

constexpr int kPollMs = 100;
constexpr int kUpstreamTimeoutMs = 120000;  // the gateway answers in well under this

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends what fd has to buf, waiting in slices so that stop is seen. False on EOF, error, stop or
// when timeout_ms passes without data.
bool RecvSome(int fd, std::string& buf, const std::atomic<bool>& stop, int timeout_ms) {
  for (int waited = 0; !stop && waited < timeout_ms; waited += kPollMs) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, kPollMs);
    if (ready < 0) return false;
    if (ready == 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }
  return false;
}

// Close with RST instead of FIN: SO_LINGER on, zero seconds.
void CloseWithReset(int fd) {
  linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
}

// The value of header `name` (lower case) in an HTTP head, "" when absent.
std::string HeaderValue(std::string_view head, std::string_view name) {
  std::string lower = Lower(head);
  std::string needle = "\r\n" + std::string(name) + ":";
  size_t at = lower.find(needle);
  if (at == std::string::npos) return "";
  size_t begin = head.find_first_not_of(" \t", at + needle.size());
  size_t end = head.find("\r\n", begin);
  return std::string(head.substr(begin, end - begin));
}

std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// An S3 error answered by the proxy itself (no body for HEAD, as S3 does).
std::string ErrorResponse(int status, std::string_view reason, std::string_view code,
                          std::string_view message, bool head_request) {
  std::string xml = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message>"
      "<RequestId>s3-fault-proxy</RequestId></Error>",
      code, message);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nDate: {}\r\n\r\n{}",
      status, reason, xml.size(), HttpDate(), head_request ? "" : xml);
}

// The body of a chunked transfer, decoded; nullopt when malformed.
std::optional<std::string> Dechunk(std::string_view body) {
  std::string out;
  for (;;) {
    size_t line_end = body.find("\r\n");
    if (line_end == std::string_view::npos) return std::nullopt;
    size_t size = std::strtoull(std::string(body.substr(0, line_end)).c_str(), nullptr, 16);
    body.remove_prefix(line_end + 2);
    if (size == 0) return out;
    if (body.size() < size + 2) return std::nullopt;
    out.append(body.substr(0, size));
    body.remove_prefix(size + 2);
  }
}

// The gateway's answer (read to EOF) split into a head framed for a kept-alive client connection
// (Content-Length, no Connection or Transfer-Encoding) and its body.
struct Response {
  int status = 0;
  std::string head;  // up to and including the blank line
  std::string body;
};

std::optional<Response> Reframe(const std::string& raw, bool head_request) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || !raw.starts_with("HTTP/1.")) return std::nullopt;
  std::string_view head(raw.data(), head_end + 2);
  Response out;
  out.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  std::string body = raw.substr(head_end + 4);
  const bool bodiless = head_request || out.status == 204 || out.status == 304;
  if (!bodiless && Lower(HeaderValue(head, "transfer-encoding")) == "chunked") {
    auto decoded = Dechunk(body);
    if (!decoded) return std::nullopt;
    body = std::move(*decoded);
  } else if (std::string length = HeaderValue(head, "content-length"); !length.empty()) {
    if (!bodiless) body.resize(std::min<size_t>(body.size(), std::stoull(length)));
  }
  if (bodiless) body.clear();
  size_t line_end = head.find("\r\n");
  out.head = std::string(head.substr(0, line_end + 2));
  for (size_t at = line_end + 2; at < head.size();) {
    size_t end = head.find("\r\n", at);
    std::string_view line = head.substr(at, end - at);
    at = end + 2;
    std::string name = Lower(line.substr(0, line.find(':')));
    if (name == "connection" || name == "transfer-encoding" || name == "keep-alive") continue;
    if (name == "content-length" && !bodiless) continue;
    out.head.append(line).append("\r\n");
  }
  if (!bodiless) out.head += fmt::format("Content-Length: {}\r\n", body.size());
  out.head += "\r\n";
  out.body = std::move(body);
  return out;
}

}  // namespace

const char* S3FaultName(S3Fault fault) {
  switch (fault) {
    case S3Fault::kNone:
      return "none";
    case S3Fault::kInternalError500:
      return "500-internal-error";
    case S3Fault::kUnavailable503:
      return "503-unavailable";
    case S3Fault::kSlowDown503:
      return "503-slowdown";
    case S3Fault::kSlowDown429:
      return "429-slowdown";
    case S3Fault::kResetRequest:
      return "reset-mid-request";
    case S3Fault::kResetResponse:
      return "reset-mid-response";
    case S3Fault::kTruncateBody:
      return "truncated-body";
    case S3Fault::kDelayResponse:
      return "delayed-past-timeout";
    case S3Fault::kAccessDenied403:
      return "403-access-denied";
    case S3Fault::kNoSuchKey404:
      return "404-no-such-key";
  }
  return "?";
}

S3FaultProxy::S3FaultProxy(const std::string& upstream_endpoint) {
  size_t colon = upstream_endpoint.rfind(':');
  if (!upstream_endpoint.starts_with("http://127.0.0.1:") || colon == std::string::npos)
    throw HarnessError("the fault proxy forwards to http://127.0.0.1:PORT, not " +
                       upstream_endpoint);
  upstream_port_ = std::atoi(upstream_endpoint.c_str() + colon + 1);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw HarnessError("the fault proxy cannot listen on a loopback port");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

S3FaultProxy::~S3FaultProxy() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mu_);
    // Wakes a worker blocked in send() to a client that stopped reading.
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& worker : workers) worker->thread.join();
}

std::string S3FaultProxy::endpoint() const { return fmt::format("http://127.0.0.1:{}", port_); }

void S3FaultProxy::SetPlan(std::vector<S3FaultRule> rules) {
  std::lock_guard lock(mu_);
  rules_ = std::move(rules);
  matched_.assign(rules_.size(), 0);
  injected_.assign(rules_.size(), 0);
}

std::vector<S3ProxiedRequest> S3FaultProxy::Requests() const {
  std::lock_guard lock(mu_);
  return log_;
}

size_t S3FaultProxy::RequestCount() const {
  std::lock_guard lock(mu_);
  return log_.size();
}

std::map<S3Fault, size_t> S3FaultProxy::FaultCounts() const {
  std::lock_guard lock(mu_);
  std::map<S3Fault, size_t> counts;
  for (const auto& request : log_)
    if (request.fault != S3Fault::kNone) ++counts[request.fault];
  return counts;
}

size_t S3FaultProxy::FaultCount() const {
  size_t total = 0;
  for (const auto& [fault, count] : FaultCounts()) total += count;
  return total;
}

void S3FaultProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    // Join the workers whose connections ended, so threads do not pile up over a long suite.
    std::erase_if(workers_, [](const std::unique_ptr<Worker>& worker) {
      if (!worker->done) return false;
      worker->thread.join();
      return true;
    });
    open_fds_.push_back(fd);
    auto worker = std::make_unique<Worker>();
    Worker* self = worker.get();
    worker->thread = std::thread([this, fd, self] {
      Serve(fd);
      {
        std::lock_guard done_lock(mu_);
        std::erase(open_fds_, fd);
      }
      ::close(fd);
      self->done = true;
    });
    workers_.push_back(std::move(worker));
  }
}

S3Fault S3FaultProxy::Decide(const std::string& method, const std::string& target,
                             size_t* request_idx) {
  std::lock_guard lock(mu_);
  S3Fault fault = S3Fault::kNone;
  for (size_t rule_idx = 0; rule_idx < rules_.size(); ++rule_idx) {
    const S3FaultRule& rule = rules_[rule_idx];
    if (!rule.method.empty() && rule.method != method) continue;
    if (!rule.target.empty() && target.find(rule.target) == std::string::npos) continue;
    int matched = ++matched_[rule_idx];
    if (!rule.faults.empty() && rule.every > 0 && matched % rule.every == 0 &&
        (rule.limit < 0 || injected_[rule_idx] < rule.limit)) {
      fault = rule.faults[static_cast<size_t>(injected_[rule_idx]) % rule.faults.size()];
      ++injected_[rule_idx];
    }
    break;
  }
  *request_idx = log_.size();
  log_.push_back({.method = method, .target = target, .fault = fault});
  return fault;
}

void S3FaultProxy::Answered(size_t request_idx, int status) {
  std::lock_guard lock(mu_);
  log_[request_idx].status = status;
}

std::string S3FaultProxy::Forward(std::string head, const std::string& body) const {
  // The gateway closes after its answer, so reading to EOF frames the response.
  head.insert(head.size() - 2, "Connection: close\r\n");
  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (up < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  std::string raw;
  if (::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && SendAll(up, head) &&
      SendAll(up, body)) {
    while (RecvSome(up, raw, stop_, kUpstreamTimeoutMs)) {
    }
  }
  ::close(up);
  return raw;
}

// One client connection: requests one after another (keep-alive) until the client closes it, a
// fault ends it, or the proxy stops.
void S3FaultProxy::Serve(int fd) {
  std::string buf;
  while (!stop_) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!RecvSome(fd, buf, stop_, 24 * 3600 * 1000)) return;
    std::string head = buf.substr(0, head_end + 4);
    buf.erase(0, head_end + 4);
    std::string_view line(head.data(), head.find("\r\n"));
    size_t space = line.find(' ');
    std::string method(line.substr(0, space));
    std::string target(line.substr(space + 1, line.rfind(' ') - space - 1));
    size_t request_idx = 0;
    S3Fault fault = Decide(method, target, &request_idx);
    if (fault == S3Fault::kResetRequest) return CloseWithReset(fd);
    std::string length = HeaderValue(head, "content-length");
    const size_t body_size = length.empty() ? 0 : std::stoull(length);
    while (buf.size() < body_size)
      if (!RecvSome(fd, buf, stop_, kUpstreamTimeoutMs)) return;
    std::string body = buf.substr(0, body_size);
    buf.erase(0, body_size);
    const bool head_request = method == "HEAD";

    std::string own;  // an answer of the proxy's own
    switch (fault) {
      case S3Fault::kInternalError500:
        own =
            ErrorResponse(500, "Internal Server Error", "InternalError", "injected", head_request);
        break;
      case S3Fault::kUnavailable503:
        own = ErrorResponse(503, "Service Unavailable", "ServiceUnavailable", "injected",
                            head_request);
        break;
      case S3Fault::kSlowDown503:
        own = ErrorResponse(503, "Slow Down", "SlowDown", "Please reduce your request rate.",
                            head_request);
        break;
      case S3Fault::kSlowDown429:
        own = ErrorResponse(429, "Too Many Requests", "SlowDown",
                            "Please reduce your request rate.", head_request);
        break;
      case S3Fault::kAccessDenied403:
        own = ErrorResponse(403, "Forbidden", "AccessDenied", "injected", head_request);
        break;
      case S3Fault::kNoSuchKey404:
        own = ErrorResponse(404, "Not Found", "NoSuchKey", "injected", head_request);
        break;
      default:
        break;
    }
    if (!own.empty()) {
      Answered(request_idx, std::atoi(own.c_str() + 9));
      if (!SendAll(fd, own)) return;
      continue;
    }

    std::optional<Response> response = Reframe(Forward(head, body), head_request);
    if (!response) {
      Answered(request_idx, 502);
      SendAll(fd, ErrorResponse(502, "Bad Gateway", "BadGateway", "no answer from the gateway",
                                head_request));
      return;
    }
    // A cut answer: half the body, or half the head when there is no body.
    const std::string& cut_from = response->body.empty() ? response->head : response->body;
    const std::string cut_head = response->body.empty() ? "" : response->head;
    switch (fault) {
      case S3Fault::kResetResponse:
      case S3Fault::kTruncateBody:
        Answered(request_idx, response->status);
        SendAll(fd, cut_head + cut_from.substr(0, cut_from.size() / 2));
        if (fault == S3Fault::kResetResponse) CloseWithReset(fd);
        return;
      case S3Fault::kDelayResponse: {
        // Hold the answer back; a client that gives up closes its end (readable, then EOF).
        std::string ignored;
        if (RecvSome(fd, ignored, stop_, delay_ms_) || stop_) return;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) != 0) return;
        break;
      }
      default:
        break;
    }
    Answered(request_idx, response->status);
    if (!SendAll(fd, response->head + response->body)) return;
  }
}

}  // namespace pgvault::test

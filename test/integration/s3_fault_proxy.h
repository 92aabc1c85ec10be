// S3FaultProxy: a hostile network between pgvault and the S3 gateway (s3_gateway.h). An HTTP/1.1
// proxy on a free loopback port that forwards every request to the gateway, unless its fault plan
// says to fail it: an error answered by the proxy itself (500, 503, 429 or 503 SlowDown, 403
// AccessDenied, 404 NoSuchKey), a connection reset in the middle of the request or of the
// response body (close with SO_LINGER 0: RST, not FIN), a response whose body is cut short
// (Content-Length as the server said, half the body, then FIN), or a response held back for
// longer than the client waits. Faults after "forwarded" happen once the gateway has carried the
// request out: the client does not know whether a PUT or DELETE took effect.
//
// Point pgvault at endpoint() (--s3-endpoint or AWS_ENDPOINT_URL): paths, query and signed
// headers pass unchanged, so signatures stay valid. Each forwarded request goes to the gateway on
// a connection of its own ("Connection: close"); towards the client the proxy keeps connections
// alive, with the body de-chunked and framed by Content-Length, as the gateway would.
//
// Thread-safe: the plan may be replaced and the counters read while requests are in flight. The
// destructor stops accepting, closes every connection and joins its threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgvault::test {

enum class S3Fault {
  kNone,              // forwarded, answered as the gateway answered
  kInternalError500,  // 500 InternalError from the proxy; not forwarded
  kUnavailable503,    // 503 ServiceUnavailable from the proxy; not forwarded
  kSlowDown503,       // 503 with an S3 SlowDown error body; not forwarded
  kSlowDown429,       // 429 with an S3 SlowDown error body; not forwarded
  kResetRequest,      // RST once the request's head is read, its body unread; not forwarded
  kResetResponse,     // forwarded; RST after the response head and half the body (or half the head)
  kTruncateBody,      // forwarded; the gateway's Content-Length, half the body (or head), then FIN
  kDelayResponse,     // forwarded; the answer held back for delay_ms (dropped if the client leaves)
  kAccessDenied403,   // 403 AccessDenied from the proxy; not forwarded
  kNoSuchKey404,      // 404 NoSuchKey from the proxy; not forwarded
};
// "reset-response", "slowdown-429", ...: for figures and messages.
const char* S3FaultName(S3Fault fault);

// Which requests a rule fails, and how. A request is matched against the rules in order; the
// first rule whose method and target match counts it (rules further down do not see it). The
// rule fails its every-th, 2*every-th, ... request, at most limit times, with faults in turn.
struct S3FaultRule {
  std::string method;  // "GET", "PUT", "HEAD", "POST", "DELETE"; "" = any
  std::string target;  // a substring of the request target (/bucket/key?query); "" = any
  int every = 1;
  int limit = -1;  // -1 = no limit
  std::vector<S3Fault> faults;
};

// One request as the proxy saw it.
struct S3ProxiedRequest {
  std::string method;
  std::string target;
  S3Fault fault = S3Fault::kNone;
  int status = 0;  // the status sent to the client (0 when none was sent)
};

class S3FaultProxy {
 public:
  // Listens on a free port of 127.0.0.1; upstream is the gateway's "http://127.0.0.1:PORT".
  // Throws HarnessError when it cannot listen.
  explicit S3FaultProxy(const std::string& upstream_endpoint);
  ~S3FaultProxy();
  S3FaultProxy(const S3FaultProxy&) = delete;
  S3FaultProxy& operator=(const S3FaultProxy&) = delete;

  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }

  // Replaces the plan (and the rules' own counts); an empty plan forwards everything.
  void SetPlan(std::vector<S3FaultRule> rules);
  void SetDelayMs(int delay_ms) { delay_ms_ = delay_ms; }

  // Every request so far, in the order their heads were read.
  std::vector<S3ProxiedRequest> Requests() const;
  size_t RequestCount() const;
  // Faults injected so far by kind (kinds never injected are absent), and their total.
  std::map<S3Fault, size_t> FaultCounts() const;
  size_t FaultCount() const;

 private:
  struct Worker;
  void AcceptLoop();
  void Serve(int fd);
  // The fault for this request (the plan's decision, counted).
  S3Fault Decide(const std::string& method, const std::string& target, size_t* request_idx);
  void Answered(size_t request_idx, int status);
  // The gateway's answer to head + body, or "" when it could not be reached.
  std::string Forward(std::string head, const std::string& body) const;

  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> delay_ms_{5000};
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::vector<S3FaultRule> rules_;                // guarded by mu_
  std::vector<int> matched_;                      // guarded by mu_: requests each rule counted
  std::vector<int> injected_;                     // guarded by mu_: faults each rule injected
  std::vector<S3ProxiedRequest> log_;             // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;  // guarded by mu_
  std::vector<int> open_fds_;                     // guarded by mu_: client connections being served
};

}  // namespace pgvault::test

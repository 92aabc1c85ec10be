// Status and Result<T>: how every fallible operation in pgvault reports failure.
// Codes are stable: each maps to one process exit code (see ExitCode) and docs/user-guide.md.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pgvault {

enum class Code : int {
  kOk = 0,
  kNotFound = 1,         // object, backup or WAL segment does not exist
  kInvalidArgument = 2,  // bad flag, bad input file, refused request
  kConfig = 3,           // configuration missing or inconsistent
  kIo = 4,               // local I/O failure
  kCorruption = 5,       // checksum, authentication tag or format mismatch
  kUnavailable = 6,      // retryable: network, server busy, timeout
  kConflict = 7,         // e.g. a different WAL segment with the same name
  kCrypto = 8,           // wrong passphrase/key, crypto library failure
  kPg = 9,               // PostgreSQL refused or is not in the expected state
  kInternal = 10,        // a bug in pgvault
  // The command completed, with a finding the user must act on: backup stored every file but
  // some data pages failed their checksum (the manifest lists them; info shows them).
  kWarning = 11,
  kCheckFailed = 12,  // a drill check failed: the restored database is not as expected
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Config(std::string msg) { return Status(Code::kConfig, std::move(msg)); }
  static Status Io(std::string msg) { return Status(Code::kIo, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }
  static Status Crypto(std::string msg) { return Status(Code::kCrypto, std::move(msg)); }
  static Status Pg(std::string msg) { return Status(Code::kPg, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status Warning(std::string msg) { return Status(Code::kWarning, std::move(msg)); }
  static Status CheckFailed(std::string msg) { return Status(Code::kCheckFailed, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool retryable() const { return code_ == Code::kUnavailable; }
  const std::string& message() const { return message_; }
  // Optional second line for the user: how to fix it.
  const std::string& hint() const { return hint_; }
  Status WithHint(std::string hint) && {
    hint_ = std::move(hint);
    return std::move(*this);
  }
  // Adds context while an error travels up: "restoring 'base/1/1259': <message>".
  Status Context(std::string_view what) const {
    Status s = *this;
    if (!ok()) s.message_ = std::string(what) + ": " + message_;
    return s;
  }
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
  std::string hint_;
};

// Process exit codes, the one table (docs/user-guide.md, "Errors and exit codes"): every Code
// maps to its own number, kOk 0 ... kWarning 11 (the values in the enum). archive-get relies on
// kNotFound -> 1.
int ExitCode(const Status& s);
// The one exit code that is not a Code: archive-get's answer that recovery must stop rather
// than end early (PostgreSQL treats an exit status above 125 from restore_command as fatal).
constexpr int kExitStopRecovery = 200;
// archive-get speaks PostgreSQL's restore_command protocol: 0 on success; kNotFound exits 1
// ("not archived": PostgreSQL may end recovery there); any other failure kExitStopRecovery,
// except on a standby, which retries: there ExitCode(s).
int ArchiveGetExitCode(const Status& s, bool standby);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design, like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status has no value");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pgvault

#define PGV_CONCAT_INNER(a, b) a##b
#define PGV_CONCAT(a, b) PGV_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define PGV_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::pgvault::Status pgv_status_ = (expr);    \
    if (!pgv_status_.ok()) return pgv_status_; \
  } while (0)
// `PGV_ASSIGN_OR_RETURN(auto x, Fn());` unwraps a Result or returns its status. `tmp` is a name
// and `lhs` a declaration, neither fits in parentheses: NOLINTBEGIN(bugprone-macro-parentheses)
#define PGV_ASSIGN_OR_RETURN(lhs, expr) \
  PGV_ASSIGN_OR_RETURN_IMPL(PGV_CONCAT(pgv_result_, __LINE__), lhs, expr)
#define PGV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()  // NOLINTEND(bugprone-macro-parentheses)

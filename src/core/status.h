// Errors are values: every fallible function returns Status or Result<T>.
// A Status carries a code the runtime can act on (retry, skip, stop) and a
// message that grows context on the way up ("part 17: column 'ts': ...").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something malformed (usage error, exit 2)
  kInvalidData,      // outside bytes are malformed, corrupt or do not match the schema
  kNotFound,         // a file, table, column or key does not exist
  kIOError,          // the OS or a remote system failed (not known to be transient)
  kRetryable,        // transient failure: the same call may succeed later
  kCancelled,        // the run was cancelled (signal, sibling failure)
  kUnsupported,      // valid input that sluice does not handle (e.g. encrypted TDTP)
  kInternal,         // a bug in sluice
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status InvalidData(std::string msg) { return {StatusCode::kInvalidData, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Retryable(std::string msg) { return {StatusCode::kRetryable, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {StatusCode::kUnsupported, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "CODE: message", or "OK".
  std::string ToString() const;

  // Prefixes the message with where it happened: "reading part 17: <message>".
  // Returns OK unchanged.
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;

  bool operator==(const Status& other) const {
    return code() == other.code() && message() == other.message();
  }

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const State> state_;  // null means OK; shared so copies are cheap
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T ValueOr(T fallback) && { return ok() ? std::move(value()) : std::move(fallback); }

 private:
  std::variant<Status, T> v_;
};

namespace internal {
inline Status ToStatus(Status s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) { return r.status(); }
}  // namespace internal

}  // namespace sluice

#define SLUICE_CONCAT_IMPL(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_IMPL(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define SLUICE_RETURN_NOT_OK(expr)                                   \
  do {                                                               \
    ::sluice::Status _sluice_st = ::sluice::internal::ToStatus(expr); \
    if (!_sluice_st.ok()) return _sluice_st;                         \
  } while (false)

// Same, adding context to the message.
#define SLUICE_RETURN_NOT_OK_CTX(expr, ctx)                          \
  do {                                                               \
    ::sluice::Status _sluice_st = ::sluice::internal::ToStatus(expr); \
    if (!_sluice_st.ok()) return std::move(_sluice_st).WithContext(ctx); \
  } while (false)

#define SLUICE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// `SLUICE_ASSIGN_OR_RETURN(auto x, MakeX());` — unwraps a Result or returns its Status.
#define SLUICE_ASSIGN_OR_RETURN(lhs, rexpr) \
  SLUICE_ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(_sluice_r_, __LINE__), lhs, rexpr)

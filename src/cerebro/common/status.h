// Status and StatusOr<T>: how every module reports an expected failure to its caller.
// A Status is a code plus a one-line message that names the offending field or file;
// the CLI prints the message as is and maps the code to an exit status.
// Value types; safe to copy and move between threads.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cerebro {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad user input: spec, flags, data values
  kNotFound,          // a file or entity that should exist does not
  kAlreadyExists,     // refusing to overwrite
  kFailedPrecondition,
  kDataLoss,          // truncated or corrupt file
  kIoError,           // the OS refused a read/write
  kInternal,          // a broken invariant or a library error we contained
  kAborted,           // a unit or worker failed; retryable at a higher level
  kCancelled,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: spec.yaml: params.lr: ..."; "OK" for success.
  std::string ToString() const;
  // Returns a copy whose message is "prefix: message" (no-op on OK).
  Status WithContext(const std::string& prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

// Holds either a T or a non-OK Status. Accessing value() on an error is a bug (aborts).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { CheckNotOk(); }  // NOLINT: implicit
  StatusOr(T value) : v_(std::move(value)) {}                         // NOLINT: implicit

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  const T& value() const& { CheckOk(); return std::get<T>(v_); }
  T& value() & { CheckOk(); return std::get<T>(v_); }
  T&& value() && { CheckOk(); return std::move(std::get<T>(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckOk() const;
  void CheckNotOk() const;
  std::variant<Status, T> v_;
};

[[noreturn]] void DieBadStatusAccess(const Status& s);
[[noreturn]] void DieOkStatusInStatusOr();

template <typename T>
void StatusOr<T>::CheckOk() const {
  if (!ok()) DieBadStatusAccess(std::get<Status>(v_));
}
template <typename T>
void StatusOr<T>::CheckNotOk() const {
  if (std::get<Status>(v_).ok()) DieOkStatusInStatusOr();
}

}  // namespace cerebro

#define CEREBRO_CONCAT_INNER_(a, b) a##b
#define CEREBRO_CONCAT_(a, b) CEREBRO_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::cerebro::Status _cerebro_st = (expr);            \
    if (!_cerebro_st.ok()) return _cerebro_st;         \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(CEREBRO_CONCAT_(_cerebro_sor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

// For broken invariants only (never reachable from user input).
#define CEREBRO_CHECK(cond)                                                   \
  do {                                                                        \
    if (!(cond)) ::cerebro::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

namespace cerebro::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);
}  // namespace cerebro::internal

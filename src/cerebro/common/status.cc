#include "cerebro/common/status.h"

#include <cstdio>
#include <cstdlib>

namespace cerebro {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kDataLoss: return "DataLoss";
    case StatusCode::kIoError: return "IoError";
    case StatusCode::kInternal: return "Internal";
    case StatusCode::kAborted: return "Aborted";
    case StatusCode::kCancelled: return "Cancelled";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

Status Status::WithContext(const std::string& prefix) const {
  if (ok()) return *this;
  return Status(code_, prefix + ": " + message_);
}

void DieBadStatusAccess(const Status& s) {
  std::fprintf(stderr, "FATAL: value() on an error StatusOr: %s\n", s.ToString().c_str());
  std::abort();
}

void DieOkStatusInStatusOr() {
  std::fprintf(stderr, "FATAL: StatusOr constructed from an OK Status\n");
  std::abort();
}

namespace internal {
void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "FATAL: %s:%d: check failed: %s\n", file, line, cond);
  std::abort();
}
}  // namespace internal

}  // namespace cerebro

#include "cerebro/cli/outcome.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace cerebro::cli {

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kDataLoss:
      return 2;
    default:
      return 1;
  }
}

int Fail(const Status& st) {
  std::fprintf(stderr, "cerebro: error: %s\n", st.message().c_str());
  return ExitCodeFor(st);
}

std::string ResumeHint(const std::string& run_dir) {
  return "cerebro: continue it with: cerebro resume " + run_dir;
}

bool ResumeContinues(const Status& st) {
  return ExitCodeFor(st) == 1 && st.code() != StatusCode::kFailedPrecondition;
}

int FailRun(const Status& st, const std::string& run_dir) {
  const int code = Fail(st);
  std::error_code ec;  // an unreadable directory is not one to point the user at
  if (!run_dir.empty() && std::filesystem::exists(run_dir, ec) && ResumeContinues(st)) {
    std::fprintf(stderr, "%s\n", ResumeHint(run_dir).c_str());
  }
  return code;
}

}  // namespace cerebro::cli

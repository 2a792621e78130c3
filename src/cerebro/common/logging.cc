#include "cerebro/common/logging.h"

#include <atomic>
#include <cstdio>

namespace cerebro {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* Prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void Log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::string line = std::string("cerebro: ") + Prefix(level) + ": " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines never interleave
}

}  // namespace cerebro

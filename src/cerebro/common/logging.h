// Minimal leveled logging to stderr. The sink (a level threshold) is the one piece of
// global mutable state we allow. Thread-safe: each call writes one line atomically.
#pragma once

#include <string>

namespace cerebro {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, const std::string& message);

inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(const std::string& m) { Log(LogLevel::kWarning, m); }
inline void LogError(const std::string& m) { Log(LogLevel::kError, m); }

}  // namespace cerebro

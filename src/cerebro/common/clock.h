// Clocks: the one monotonic clock every timing measurement uses (unit compute, state
// moves, progress and ETA), and the wall clock for timestamps that cross processes.
// Thread-safe.
#pragma once

#include <chrono>

namespace cerebro {

// Seconds on the monotonic clock (only differences are meaningful).
inline double MonotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Seconds since the Unix epoch (for timestamps compared across processes or nodes).
inline double WallSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Adds the monotonic time its scope took to *total (a timing counter of the caller's).
class ScopedSeconds {
 public:
  explicit ScopedSeconds(double* total) : total_(total), start_(MonotonicSeconds()) {}
  ~ScopedSeconds() { *total_ += MonotonicSeconds() - start_; }
  ScopedSeconds(const ScopedSeconds&) = delete;
  ScopedSeconds& operator=(const ScopedSeconds&) = delete;

 private:
  double* total_;
  double start_;
};

}  // namespace cerebro

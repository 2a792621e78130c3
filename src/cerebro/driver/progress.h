// Progress: a snapshot of a live run for progress displays (the CLI's progress line,
// later `cerebro status`), computed from the run's state. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "cerebro/driver/run_observer.h"

namespace cerebro::driver {

struct Progress {
  int epoch = 0;        // 1-based: the lowest epoch any live model is still in
  int epochs = 0;       // the largest epoch budget of a live model
  int64_t units_done = 0;
  int64_t units_total = 0;  // shrinks when models fail or stop, grows when added
  double elapsed_seconds = 0;
  double eta_seconds = -1;  // -1 until estimable
  int best_model = -1;      // by the ranking rule (driver/ranking.h), -1 if none yet
  double best_value = 0;
  std::string metric;
};

// `elapsed` and `units_at_start` (units already done when this process started, e.g.
// replayed on resume) come from the caller, which owns the clock.
Progress ProgressOf(const RunView& run, double elapsed, int64_t units_at_start);

}  // namespace cerebro::driver

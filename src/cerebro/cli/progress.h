// Live progress of a run on stderr, as a run observer: a start line, then one redrawn
// line on a terminal or a line per tenth of the units otherwise. Once stderr is gone (a
// closed pipe) it stops printing; the run goes on. Called on the run loop's thread only
// (driver/run_observer.h).
#pragma once

#include <cstdint>
#include <string>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/progress.h"
#include "cerebro/driver/run_observer.h"

namespace cerebro::cli {

class ProgressPrinter final : public driver::RunObserver {
 public:
  explicit ProgressPrinter(bool quiet);
  // Ends a redrawn line, so what follows starts on a line of its own.
  ~ProgressPrinter() override;
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  // Adds this printer to `opts`' observers (nothing when quiet); `what` names the run
  // in the start line. The printer must outlive the run.
  void Attach(driver::RunOptions* opts, const std::string& what);

  Status OnStarted(const driver::RunView& run) override;
  Status OnUnitDone(const driver::RunView& run, const store::UnitDone&) override;
  Status OnModelStatus(const driver::RunView& run, ModelId) override;

 private:
  void Draw(const driver::Progress& p);
  // fprintf on stderr, until one fails (EPIPE: the reader went away).
  void Print(const char* format, ...) __attribute__((format(printf, 2, 3)));

  bool quiet_, tty_;
  std::string what_;
  double start_ = 0;          // when the run started, on the monotonic clock
  int64_t units_at_start_ = 0;  // units already done then (a resumed run's)
  bool drew_ = false;
  bool gone_ = false;  // stderr refused a write
  int last_decile_ = -1;
};

// A count of work done for the steps that are not runs (preparing data, predicting): one
// redrawn line on stderr, "cerebro: WHAT: 1234/60000 examples (2%)  00:03 left", drawn
// on a terminal only (off one, and when quiet, it prints nothing) and at most ten times
// a second. Call it as the work goes; it ends its line when done reaches total (or, if
// the work stops before, when it is destroyed).
class CountBar {
 public:
  CountBar(std::string what, bool quiet);
  ~CountBar();
  CountBar(const CountBar&) = delete;
  CountBar& operator=(const CountBar&) = delete;

  void operator()(int64_t done, int64_t total);

 private:
  std::string what_;
  bool on_;
  double start_ = 0, last_draw_ = -1;
  bool drew_ = false;
};

}  // namespace cerebro::cli

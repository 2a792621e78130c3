// Discrete-event simulator for the Hopper: drives the real scheduler with a fake clock
// (unit time = model cost / worker speed) to measure makespan against a lower bound at
// scales this machine cannot train (e.g. 1000 models x 64 workers).
// Pure function of its config; no real clock, no threads. An optional DecisionTimer,
// supplied by the caller, brackets every scheduler call so a benchmark can time them.
#pragma once

#include <cstdint>
#include <vector>

#include "cerebro/sched/hopper.h"

namespace cerebro::sched {

struct SimConfig {
  // Seconds per unit of model m on a speed-1.0 worker (all partitions equal-sized); > 0.
  std::vector<double> model_cost;
  // Relative speed of worker w; > 0. Worker w holds partition w (P = W, no replicas).
  std::vector<double> worker_speed;
  int epochs = 1;
  // eval_units is ignored (forced off): the simulator models training units only.
  HopperOptions options;
  // Pass model_cost to Hopper::SetCostHint (only kMostRemainingWorkFirst reads it).
  bool cost_hints = true;
  // Record every unit with its start/end time in SimResult::trace (tests).
  bool record_trace = false;
};

struct SimUnit {
  Unit unit;
  double start = 0;
  double end = 0;
};

struct SimResult {
  double makespan = 0;     // fake seconds until the last unit completes
  // max(max_w sum_m E*cost_m/speed_w, max_m sum_w E*cost_m/speed_w): each worker must
  // run every model's units on its pinned partition, and each model must run its units
  // one after another.
  double lower_bound = 0;
  double utilization = 0;  // busy worker-seconds / (W * makespan)
  int64_t units = 0;       // units completed
  int64_t decisions = 0;   // Next() calls, including those that returned nothing
  std::vector<SimUnit> trace;  // in completion order; empty unless record_trace
};

// Caller-supplied hook around each scheduler call (Next, Complete). Keeps the clock out
// of the library: the benchmark implements it with std::chrono.
class DecisionTimer {
 public:
  virtual ~DecisionTimer() = default;
  virtual void Begin() = 0;
  virtual void End() = 0;
};

// A random heterogeneous workload: model costs log-uniform in [cost_min, cost_max]
// (FLOPs span orders of magnitude), worker speeds uniform in [speed_min, speed_max].
// Draws come from DeriveSeed(seed, "sim.cost"/"sim.speed"), so they are independent of
// the scheduler's own seed (options.seed).
struct SimWorkload {
  int models = 1;
  int workers = 1;
  int epochs = 1;
  double cost_min = 1, cost_max = 1;
  double speed_min = 1, speed_max = 1;
  uint64_t seed = 0;
};
SimConfig MakeSimConfig(const SimWorkload& workload, HopperOptions options);

// The lower bound above, on its own (also filled into SimResult).
double SimLowerBound(const SimConfig& config);

// Runs all models to completion. CHECK-fails on an invalid config or if the scheduler
// stalls with work left (a scheduler bug).
SimResult Simulate(const SimConfig& config, DecisionTimer* timer = nullptr);

}  // namespace cerebro::sched

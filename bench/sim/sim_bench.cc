// cerebro_sim_bench: the MOP scheduler in the discrete-event simulator, makespan against
// the lower bound, and the scheduler's own decision time (wall time inside
// Hopper::Next/Complete per unit, measured with MonotonicSeconds through the simulator's
// DecisionTimer hook, so the library itself never reads a clock).
//
// Usage: cerebro_sim_bench [--per-seed]
// Prints a markdown table (and, with --per-seed, one line per seed on stderr).
// "sched us/unit" includes two steady_clock reads per scheduler call (~20-25 ns each),
// and the simulator offers every idle worker after each completion, so most Next calls
// return nothing; "ns/call" is the mean per Next/Complete call.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/sched/simulator.h"

namespace {

using cerebro::sched::HopperOptions;
using cerebro::sched::MakeSimConfig;
using cerebro::sched::Order;
using cerebro::sched::Policy;
using cerebro::sched::SimResult;
using cerebro::sched::SimWorkload;
using cerebro::sched::Simulate;

class ClockTimer : public cerebro::sched::DecisionTimer {
 public:
  void Begin() override { start_ = cerebro::MonotonicSeconds(); }
  void End() override { total_ += cerebro::MonotonicSeconds() - start_; }
  double seconds() const { return total_; }

 private:
  double start_ = 0;
  double total_ = 0;
};

struct Scenario {
  const char* name;
  SimWorkload workload;  // seed filled per run
  int seeds;
};

struct Variant {
  const char* name;
  Order order;
  Policy policy;
  bool cost_hints;  // tell the scheduler each model's true cost
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool per_seed = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--per-seed") == 0) per_seed = true;
  }
  // Costs are seconds per unit on a speed-1 worker; only ratios matter for makespan/LB.
  const Scenario scenarios[] = {
      // (1) 256 heterogeneous models (60x cost range) on 16 heterogeneous workers (3.3x).
      {"256x16, cost 1-60 (60x), speed 5.6-18.7, E=5", {256, 16, 5, 1, 60, 5.6, 18.7, 0}, 5},
      // (2) The paper's ranges: 360 MFLOPs-21 GFLOPs per example, 5.6-18.7 TFLOP/s,
      // at the paper's scale (16 configs, 8 workers) and at 256x16.
      {"paper 16x8, 0.36-21 GFLOPs, 5.6-18.7 TFLOP/s, E=10",
       {16, 8, 10, 0.36, 21, 5.6, 18.7, 0}, 5},
      {"paper 256x16, 0.36-21 GFLOPs, 5.6-18.7 TFLOP/s, E=5",
       {256, 16, 5, 0.36, 21, 5.6, 18.7, 0}, 5},
      // (3) Scale: 1000 models x 64 workers.
      {"1000x64, cost 1-60, speed 5.6-18.7, E=5", {1000, 64, 5, 1, 60, 5.6, 18.7, 0}, 3},
  };
  const Variant variants[] = {
      {"random-greedy (default)", Order::kRandom, Policy::kRandomGreedy, false},
      {"most-remaining-work, cost hints", Order::kRandom, Policy::kMostRemainingWorkFirst, true},
      {"most-remaining-units (no hints)", Order::kRandom, Policy::kMostRemainingWorkFirst,
       false},
      {"random-greedy, fixed order", Order::kFixed, Policy::kRandomGreedy, false},
  };

  std::printf(
      "| scenario | policy | seeds | median makespan/LB | min | max | median util | "
      "units/run | Next calls/run | sched us/unit | ns/call |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Scenario& sc : scenarios) {
    for (const Variant& v : variants) {
      std::vector<double> ratios, utils;
      int64_t units = 0, decisions = 0;
      double sched_seconds = 0;
      for (int s = 1; s <= sc.seeds; ++s) {
        SimWorkload w = sc.workload;
        w.seed = static_cast<uint64_t>(s);
        HopperOptions options;
        options.seed = static_cast<uint64_t>(s);
        options.order = v.order;
        options.policy = v.policy;
        ClockTimer timer;
        cerebro::sched::SimConfig config = MakeSimConfig(w, options);
        config.cost_hints = v.cost_hints;
        SimResult r = Simulate(config, &timer);
        ratios.push_back(r.makespan / r.lower_bound);
        utils.push_back(r.utilization);
        units += r.units;
        decisions += r.decisions;
        sched_seconds += timer.seconds();
        if (per_seed) {
          std::fprintf(stderr, "%s | %s | seed %d: makespan %.2f LB %.2f ratio %.4f util %.3f\n",
                       sc.name, v.name, s, r.makespan, r.lower_bound,
                       r.makespan / r.lower_bound, r.utilization);
        }
      }
      std::printf("| %s | %s | %d | %.4f | %.4f | %.4f | %.3f | %lld | %lld | %.3f | %.0f |\n",
                  sc.name,
                  v.name, sc.seeds, Median(ratios),
                  *std::min_element(ratios.begin(), ratios.end()),
                  *std::max_element(ratios.begin(), ratios.end()), Median(utils),
                  static_cast<long long>(units / sc.seeds),
                  static_cast<long long>(decisions / sc.seeds), 1e6 * sched_seconds / units,
                  // Next calls plus Complete calls (one per unit).
                  1e9 * sched_seconds / static_cast<double>(decisions + units));
      std::fflush(stdout);
    }
  }
  return 0;
}

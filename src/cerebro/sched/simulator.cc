// Simulator: a priority queue of unit completions ordered by fake time. Whenever
// completions free workers, every idle worker asks the Hopper for work, as the driver
// does when a completion arrives (event-driven, never polled).
#include "cerebro/sched/simulator.h"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <queue>
#include <random>

#include "cerebro/common/rng.h"
#include "cerebro/common/status.h"

namespace cerebro::sched {
namespace {

struct Event {
  double time;
  int64_t seq;  // ties in time resolve by start order, so runs are deterministic
  Unit unit;
  double start;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
};

// Brackets one scheduler call with the optional timer.
class Timed {
 public:
  explicit Timed(DecisionTimer* t) : t_(t) {
    if (t_) t_->Begin();
  }
  ~Timed() {
    if (t_) t_->End();
  }

 private:
  DecisionTimer* t_;
};

}  // namespace

SimConfig MakeSimConfig(const SimWorkload& workload, HopperOptions options) {
  CEREBRO_CHECK(workload.cost_min > 0 && workload.cost_max >= workload.cost_min);
  CEREBRO_CHECK(workload.speed_min > 0 && workload.speed_max >= workload.speed_min);
  SimConfig config;
  config.epochs = workload.epochs;
  config.options = options;
  std::mt19937_64 cost_gen(DeriveSeed(workload.seed, "sim.cost"));
  const double log_lo = std::log(workload.cost_min), log_hi = std::log(workload.cost_max);
  for (int m = 0; m < workload.models; ++m) {
    config.model_cost.push_back(std::exp(log_lo + (log_hi - log_lo) * Uniform01(cost_gen)));
  }
  std::mt19937_64 speed_gen(DeriveSeed(workload.seed, "sim.speed"));
  for (int w = 0; w < workload.workers; ++w) {
    config.worker_speed.push_back(workload.speed_min +
                                  (workload.speed_max - workload.speed_min) * Uniform01(speed_gen));
  }
  return config;
}

double SimLowerBound(const SimConfig& config) {
  const double total_cost =
      std::accumulate(config.model_cost.begin(), config.model_cost.end(), 0.0);
  double inv_speed_sum = 0;
  double min_speed = config.worker_speed.empty() ? 1.0 : config.worker_speed[0];
  for (double s : config.worker_speed) {
    inv_speed_sum += 1.0 / s;
    min_speed = std::min(min_speed, s);
  }
  const double max_cost = config.model_cost.empty()
                              ? 0.0
                              : *std::max_element(config.model_cost.begin(),
                                                  config.model_cost.end());
  const double worker_bound = config.epochs * total_cost / min_speed;
  const double model_bound = config.epochs * max_cost * inv_speed_sum;
  return std::max(worker_bound, model_bound);
}

SimResult Simulate(const SimConfig& config, DecisionTimer* timer) {
  const int num_workers = static_cast<int>(config.worker_speed.size());
  const int num_models = static_cast<int>(config.model_cost.size());
  CEREBRO_CHECK(num_workers > 0);
  CEREBRO_CHECK(config.epochs >= 0);
  for (double s : config.worker_speed) CEREBRO_CHECK(s > 0);
  for (double c : config.model_cost) CEREBRO_CHECK(c > 0);

  HopperOptions options = config.options;
  options.eval_units = false;
  std::vector<int> worker_partition(num_workers);
  std::iota(worker_partition.begin(), worker_partition.end(), 0);
  Hopper hopper(std::move(worker_partition), options);
  for (int m = 0; m < num_models; ++m) {
    hopper.AddModel(m, config.epochs);
    if (config.cost_hints) hopper.SetCostHint(m, config.model_cost[m]);
  }

  SimResult result;
  result.lower_bound = SimLowerBound(config);
  std::priority_queue<Event, std::vector<Event>, Later> queue;
  std::vector<uint8_t> idle(num_workers, 1);
  double now = 0;
  double busy_time = 0;
  int64_t seq = 0;

  auto offer_idle_workers = [&] {
    for (int w = 0; w < num_workers; ++w) {
      if (!idle[w]) continue;
      std::optional<Unit> unit;
      {
        Timed t(timer);
        unit = hopper.Next(w);
      }
      ++result.decisions;
      if (!unit) continue;
      idle[w] = 0;
      const double duration = config.model_cost[unit->model] / config.worker_speed[w];
      queue.push(Event{now + duration, seq++, *unit, now});
    }
  };

  offer_idle_workers();
  while (!queue.empty()) {
    now = queue.top().time;
    // Retire every completion at this instant before re-offering, so simultaneous
    // completions are seen together (as a driver's batched wait would).
    while (!queue.empty() && queue.top().time == now) {
      Event e = queue.top();
      queue.pop();
      {
        Timed t(timer);
        hopper.Complete(e.unit);
      }
      idle[e.unit.worker] = 1;
      busy_time += e.time - e.start;
      ++result.units;
      if (config.record_trace) result.trace.push_back(SimUnit{e.unit, e.start, e.time});
    }
    offer_idle_workers();
  }
  CEREBRO_CHECK(hopper.Done());  // otherwise the scheduler stalled with work left
  result.makespan = now;
  result.utilization = now > 0 ? busy_time / (num_workers * now) : 0.0;
  return result;
}

}  // namespace cerebro::sched

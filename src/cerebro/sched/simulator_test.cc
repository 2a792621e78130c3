// Tests for the simulator: the lower bound, makespan >= bound on random workloads, the
// trace obeys MOP's invariants, and the acceptance criteria (randomized greedy within
// 10% of the lower bound on 256 heterogeneous models x 16 heterogeneous workers, 5% at
// 1000 x 64), asserted at the ratios the results report for the fixed seeds.
#include "cerebro/sched/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace cerebro::sched {
namespace {

// Checks the trace independently: units match the config, each (model, epoch,
// partition) runs once, epochs run in order, and no worker or model overlaps in time.
void ExpectValidTrace(const SimConfig& config, const SimResult& result) {
  const int workers = static_cast<int>(config.worker_speed.size());
  const int models = static_cast<int>(config.model_cost.size());
  ASSERT_EQ(result.trace.size(), static_cast<size_t>(result.units));
  EXPECT_EQ(result.units, int64_t{models} * workers * config.epochs);
  std::set<std::tuple<int, int, int>> seen;
  std::map<int, std::vector<std::pair<double, double>>> by_worker, by_model;
  std::map<int, std::vector<std::pair<double, int>>> model_epochs;  // (start, epoch)
  for (const SimUnit& s : result.trace) {
    const Unit& u = s.unit;
    EXPECT_EQ(u.kind, UnitKind::kTrain);
    EXPECT_EQ(u.partition, u.worker);
    EXPECT_NEAR(s.end - s.start, config.model_cost[u.model] / config.worker_speed[u.worker],
                1e-9 * s.end);
    EXPECT_TRUE(seen.insert({u.model, u.epoch, u.partition}).second) << "repeated unit";
    by_worker[u.worker].push_back({s.start, s.end});
    by_model[u.model].push_back({s.start, s.end});
    model_epochs[u.model].push_back({s.start, u.epoch});
    EXPECT_LE(s.end, result.makespan);
  }
  auto expect_disjoint = [](std::vector<std::pair<double, double>> spans, const char* what) {
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) {
      EXPECT_LE(spans[i - 1].second, spans[i].first) << what << " overlap";
    }
  };
  for (auto& [w, spans] : by_worker) expect_disjoint(spans, "worker");
  for (auto& [m, spans] : by_model) expect_disjoint(spans, "model");
  for (auto& [m, starts] : model_epochs) {
    std::sort(starts.begin(), starts.end());
    EXPECT_TRUE(std::is_sorted(starts.begin(), starts.end(),
                               [](auto& a, auto& b) { return a.second < b.second; }))
        << "model " << m << " started an epoch before finishing the previous one";
  }
}

TEST(SimulatorTest, LowerBoundIsTheLargerOfWorkerAndModelBounds) {
  SimConfig config;
  config.model_cost = {1, 4};
  config.worker_speed = {1, 2};
  config.epochs = 2;
  // Worker 0 must run both models: 2 * (1 + 4) / 1 = 10. Model 1 must visit both
  // workers: 2 * 4 * (1/1 + 1/2) = 12.
  EXPECT_DOUBLE_EQ(SimLowerBound(config), 12.0);
  config.model_cost = {1, 1, 1, 1};
  // Worker bound 2 * 4 / 1 = 8 beats the model bound 2 * 1 * 1.5 = 3.
  EXPECT_DOUBLE_EQ(SimLowerBound(config), 8.0);
}

TEST(SimulatorTest, OneWorkerRunsAllWorkBackToBack) {
  SimConfig config;
  config.model_cost = {1, 2, 3};
  config.worker_speed = {2};
  config.epochs = 3;
  config.record_trace = true;
  SimResult r = Simulate(config);
  EXPECT_DOUBLE_EQ(r.makespan, 3 * 6 / 2.0);
  EXPECT_DOUBLE_EQ(r.makespan, r.lower_bound);
  EXPECT_DOUBLE_EQ(r.utilization, 1.0);
  EXPECT_EQ(r.units, 9);
  ExpectValidTrace(config, r);
}

TEST(SimulatorTest, MakespanIsNeverBelowTheLowerBound) {
  const Policy policies[] = {Policy::kRandomGreedy, Policy::kLowestIdFirst,
                             Policy::kMostRemainingWorkFirst};
  for (uint64_t seed = 0; seed < 60; ++seed) {
    SimWorkload w;
    w.models = 1 + static_cast<int>(seed * 7 % 40);
    w.workers = 1 + static_cast<int>(seed * 5 % 12);
    w.epochs = 1 + static_cast<int>(seed % 3);
    w.cost_min = 1;
    w.cost_max = 1 + static_cast<double>(seed % 50);
    w.speed_min = 1;
    w.speed_max = 1 + static_cast<double>(seed % 4);
    w.seed = seed;
    HopperOptions options;
    options.seed = seed;
    options.order = seed % 2 ? Order::kFixed : Order::kRandom;
    options.policy = policies[seed % 3];
    SimConfig config = MakeSimConfig(w, options);
    config.record_trace = true;
    SimResult r = Simulate(config);
    SCOPED_TRACE("seed " + std::to_string(seed));
    EXPECT_GE(r.makespan, r.lower_bound * (1 - 1e-12));
    EXPECT_GT(r.utilization, 0);
    EXPECT_LE(r.utilization, 1 + 1e-12);
    EXPECT_GE(r.decisions, r.units);
    ExpectValidTrace(config, r);
  }
}

TEST(SimulatorTest, SameConfigSameResult) {
  SimWorkload w{40, 8, 2, 1, 30, 1, 3.3, 11};
  SimConfig config = MakeSimConfig(w, HopperOptions{5});
  config.record_trace = true;
  SimResult a = Simulate(config), b = Simulate(config);
  EXPECT_EQ(a.makespan, b.makespan);
  ASSERT_EQ(a.trace.size(), b.trace.size());
  for (size_t i = 0; i < a.trace.size(); ++i) {
    EXPECT_EQ(a.trace[i].unit.model, b.trace[i].unit.model);
    EXPECT_EQ(a.trace[i].unit.worker, b.trace[i].unit.worker);
  }
}

// Worker speeds come from Uniform01 and, with equal costs, the makespan is exact IEEE
// arithmetic, so these pin the workload draws and the decisions bit for bit. Recorded
// with the simulator's and scheduler's own draws before they moved to common/rng.h
// (15e2161).
TEST(SimulatorTest, ResultForASeedIsPinned) {
  SimWorkload w{12, 4, 2, 1, 1, 1, 3.3, 11};
  SimConfig random = MakeSimConfig(w, HopperOptions{5, Order::kRandom});
  EXPECT_EQ(random.worker_speed, (std::vector<double>{0x1.0940a8852d062p+1, 0x1.c268d392a6355p+0,
                                                      0x1.4d446ed7e47a6p+1, 0x1.2042a97a694aep+1}));
  SimResult r = Simulate(random);
  EXPECT_EQ(r.makespan, 0x1.b4826c3c92ff8p+3);
  EXPECT_EQ(r.decisions, 134);
  SimResult f = Simulate(MakeSimConfig(w, HopperOptions{5, Order::kFixed}));
  EXPECT_EQ(f.makespan, 0x1.b4826c3c92ff8p+3);
  EXPECT_EQ(f.decisions, 152);
}

// makespan / lower bound of the default policy (randomized greedy, random order) on a
// workload, for seeds 1..seeds; the scheduler and the workload use the same seed.
std::vector<double> DefaultPolicyRatios(SimWorkload w, int seeds) {
  std::vector<double> ratios;
  for (uint64_t seed = 1; seed <= static_cast<uint64_t>(seeds); ++seed) {
    w.seed = seed;
    HopperOptions options;  // defaults: randomized greedy, random order
    options.seed = seed;
    SimResult r = Simulate(MakeSimConfig(w, options));
    EXPECT_EQ(r.units, int64_t{w.models} * w.workers * w.epochs);
    EXPECT_GE(r.makespan, r.lower_bound * (1 - 1e-12));
    ratios.push_back(r.makespan / r.lower_bound);
    std::printf("%dx%d seed %llu: makespan / lower bound %.4f\n", w.models, w.workers,
                static_cast<unsigned long long>(seed), ratios.back());
  }
  return ratios;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Acceptance criterion (issue 2): Cerebro's randomized greedy (the default) finishes 256
// heterogeneous models (costs log-uniform over a 60x range) on 16 heterogeneous workers
// (speeds uniform over 5.6-18.7, a 3.3x range), 5 epochs, within 10% of the lower bound,
// median over 5 seeds. The ratios are deterministic for the seeds; bench/results/
// 2026-11-27-scheduler-simulation.md reports median 1.0112, max 1.0233, and the bounds
// here are what that claims (with rounding room), not the 10% the issue asked for.
TEST(SimulatorTest, RandomizedGreedyWithinTenPercentOfLowerBoundAt256x16) {
  const std::vector<double> ratios = DefaultPolicyRatios({256, 16, 5, 1, 60, 5.6, 18.7, 0}, 5);
  EXPECT_LE(Median(ratios), 1.012) << "median makespan / lower bound";
  for (double r : ratios) EXPECT_LE(r, 1.024);
}

// Issue 5's target: 1000 models on 64 workers within 5% of the lower bound (reported:
// median 1.0145, max 1.0309 over seeds 1-3).
TEST(SimulatorTest, RandomizedGreedyWithinFivePercentOfLowerBoundAt1000x64) {
  const std::vector<double> ratios = DefaultPolicyRatios({1000, 64, 5, 1, 60, 5.6, 18.7, 0}, 3);
  EXPECT_LE(Median(ratios), 1.015) << "median makespan / lower bound";
  for (double r : ratios) EXPECT_LE(r, 1.05);
}

}  // namespace
}  // namespace cerebro::sched

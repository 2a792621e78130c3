// Test-only helpers for sched: an independent invariant checker that watches every
// scheduler call, and a fake event loop (fake clock, heterogeneous speeds, random
// completion jitter, failures, lost workers) that drives a Hopper the way the driver
// does. Header-only; used by hopper_test.cc and simulator_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <vector>

#include "cerebro/common/rng.h"
#include "cerebro/sched/hopper.h"

namespace cerebro::sched::testing {

// Recomputes MOP's invariants from the outside: it knows nothing of the Hopper's
// internals and only sees the units it hands out and what the driver reports back.
class Checker {
 public:
  Checker(std::vector<int> worker_partition, bool eval_units)
      : worker_partition_(std::move(worker_partition)), eval_units_(eval_units) {
    for (int p : worker_partition_) num_partitions_ = std::max(num_partitions_, p + 1);
    worker_busy_.assign(worker_partition_.size(), false);
  }

  // Optional: every train unit must follow this per-(model, epoch) order.
  void ExpectFixedOrder(std::function<std::vector<int>(ModelId, int)> order) {
    fixed_order_ = std::move(order);
  }

  void Added(ModelId id, int epochs) {
    ASSERT_EQ(models_.count(id), 0u);
    models_[id].epochs = epochs;
  }
  void Extended(ModelId id, int more) { models_.at(id).epochs += more; }
  void Stopped(ModelId id) { models_.at(id).stopped = true; }

  void Started(const Unit& u) {
    ASSERT_GE(u.worker, 0);
    ASSERT_LT(u.worker, static_cast<int>(worker_partition_.size()));
    ASSERT_TRUE(models_.count(u.model)) << "unknown model " << u.model;
    M& m = models_[u.model];
    EXPECT_FALSE(worker_busy_[u.worker]) << "exclusivity: worker " << u.worker;
    EXPECT_FALSE(m.running) << "isolation: model " << u.model;
    EXPECT_FALSE(m.stopped) << "stopped model " << u.model << " got a unit";
    EXPECT_EQ(u.partition, worker_partition_[u.worker]) << "unit on a foreign partition";
    // The unit must belong to the model's first unfinished epoch and phase.
    const int e = CurrentEpoch(m);
    EXPECT_EQ(u.epoch, e) << "model " << u.model;
    EXPECT_LT(u.epoch, m.epochs) << "model " << u.model << " ran past its epochs";
    if (u.epoch != e || u.epoch >= m.epochs) return;
    Grow(m, e);
    const bool train_left = Count(m.train[e]) < num_partitions_;
    EXPECT_EQ(u.kind, train_left ? UnitKind::kTrain : UnitKind::kEval);
    auto& done = u.kind == UnitKind::kTrain ? m.train[e] : m.eval[e];
    EXPECT_EQ(done[u.partition], 0) << "completeness: unit repeated, model " << u.model;
    if (u.kind == UnitKind::kTrain && fixed_order_) {
      EXPECT_EQ(u.partition, fixed_order_(u.model, e)[Count(m.train[e])])
          << "fixed order broken, model " << u.model << " epoch " << e;
    }
    m.running = true;
    m.running_unit = u;
    worker_busy_[u.worker] = true;
    ++started_;
  }

  void Completed(const Unit& u, CompletionEvents ev) {
    M& m = models_.at(u.model);
    ExpectRunning(m, u);
    m.running = false;
    worker_busy_[u.worker] = false;
    ++completed_;
    if (m.stopped) {
      EXPECT_FALSE(ev.epoch_done || ev.model_done) << "events from a stopped model";
      return;
    }
    Grow(m, u.epoch);
    auto& done = u.kind == UnitKind::kTrain ? m.train[u.epoch] : m.eval[u.epoch];
    ++done[u.partition];
    if (u.kind == UnitKind::kTrain) m.train_sequence[u.epoch].push_back(u.partition);
    const bool epoch_done = Count(m.train[u.epoch]) == num_partitions_ &&
                            (!eval_units_ || Count(m.eval[u.epoch]) == num_partitions_);
    EXPECT_EQ(ev.epoch_done, epoch_done) << "model " << u.model << " epoch " << u.epoch;
    EXPECT_EQ(ev.model_done, epoch_done && u.epoch + 1 == m.epochs) << "model " << u.model;
  }

  // Fail() or WorkerLost(): the unit is not done and must come back.
  void Failed(const Unit& u) {
    M& m = models_.at(u.model);
    ExpectRunning(m, u);
    m.running = false;
    worker_busy_[u.worker] = false;
  }

  // Completeness: every live model ran each (epoch, kind, partition) exactly once.
  void ExpectAllDone() const {
    for (const auto& [id, m] : models_) {
      EXPECT_FALSE(m.running) << "model " << id;
      if (m.stopped) continue;
      for (int e = 0; e < m.epochs; ++e) {
        ASSERT_LT(e, static_cast<int>(m.train.size())) << "model " << id << " epoch " << e;
        for (int p = 0; p < num_partitions_; ++p) {
          EXPECT_EQ(m.train[e][p], 1) << "model " << id << " epoch " << e << " part " << p;
          if (eval_units_) {
            EXPECT_EQ(m.eval[e][p], 1) << "model " << id << " eval " << e;
          }
        }
      }
    }
  }

  int64_t started() const { return started_; }
  int64_t completed() const { return completed_; }
  // Partitions of the model's train units in completion order, per epoch.
  std::map<int, std::vector<int>> train_sequence(ModelId id) const {
    return models_.at(id).train_sequence;
  }

 private:
  struct M {
    int epochs = 0;
    bool stopped = false;
    bool running = false;
    Unit running_unit;
    std::vector<std::vector<int>> train, eval;  // [epoch][partition] completion counts
    std::map<int, std::vector<int>> train_sequence;
  };

  static int Count(const std::vector<int>& v) {
    int n = 0;
    for (int x : v) n += x > 0;
    return n;
  }
  void Grow(M& m, int e) const {
    while (static_cast<int>(m.train.size()) <= e) {
      m.train.emplace_back(num_partitions_, 0);
      m.eval.emplace_back(num_partitions_, 0);
    }
  }
  int CurrentEpoch(M& m) const {
    int e = 0;
    while (true) {
      Grow(m, e);
      bool done = Count(m.train[e]) == num_partitions_ &&
                  (!eval_units_ || Count(m.eval[e]) == num_partitions_);
      if (!done) return e;
      ++e;
    }
  }
  static void ExpectRunning(const M& m, const Unit& u) {
    EXPECT_TRUE(m.running) << "model " << u.model << " reported but not running";
    EXPECT_EQ(m.running_unit.worker, u.worker);
    EXPECT_EQ(m.running_unit.partition, u.partition);
    EXPECT_EQ(m.running_unit.epoch, u.epoch);
    EXPECT_EQ(m.running_unit.kind, u.kind);
  }

  std::vector<int> worker_partition_;
  bool eval_units_;
  int num_partitions_ = 0;
  std::vector<bool> worker_busy_;
  std::map<ModelId, M> models_;
  std::function<std::vector<int>(ModelId, int)> fixed_order_;
  int64_t started_ = 0;
  int64_t completed_ = 0;
};

// Drives a Hopper like the driver: whenever something happens, every idle, live worker
// asks Next(). Unit durations are cost/speed times a random jitter, so completions
// arrive in a random order; optionally units fail and workers get lost and restored.
struct FakeLoopConfig {
  std::vector<double> worker_speed;  // one per worker
  std::vector<double> model_cost;    // indexed by model id (ids 0..N-1 at most)
  double jitter = 0.5;               // duration *= U[1-jitter, 1+jitter]
  double fail_prob = 0;              // chance a finishing unit fails instead
  double lose_prob = 0;              // chance per event that a random worker is lost
  int restore_after = 5;             // events until a lost worker comes back
  uint64_t seed = 1;
};

class FakeLoop {
 public:
  FakeLoop(Hopper& hopper, Checker& checker, FakeLoopConfig config)
      : h_(hopper), c_(checker), cfg_(std::move(config)), rng_(cfg_.seed) {
    generation_.assign(h_.num_workers(), 0);
    restore_at_.assign(h_.num_workers(), -1);
  }

  // Called after every event with the event count; may add/stop/extend models (and must
  // tell the checker).
  std::function<void(int64_t step)> on_step;

  // Runs until the scheduler has nothing pending or running. Returns the number of
  // events processed.
  int64_t Run(int64_t max_events = 10'000'000) {
    int64_t step = 0;
    Offer();
    while (step < max_events) {
      if (queue_.empty()) {
        // Nothing running: bring every lost worker back, or we are done.
        bool restored = false;
        for (int w = 0; w < h_.num_workers(); ++w) {
          if (h_.worker_lost(w)) {
            Restore(w);
            restored = true;
          }
        }
        if (on_step) on_step(step++);
        Offer();
        if (!restored && queue_.empty()) break;
        continue;
      }
      Ev e = queue_.top();
      queue_.pop();
      now_ = e.time;
      ++step;
      if (generation_[e.unit.worker] != e.generation) {
        // Its worker was lost meanwhile: the unit was re-queued, nothing to report.
      } else if (Chance(cfg_.fail_prob)) {
        h_.Fail(e.unit);
        c_.Failed(e.unit);
      } else {
        CompletionEvents ev = h_.Complete(e.unit);
        c_.Completed(e.unit, ev);
      }
      if (Chance(cfg_.lose_prob)) Lose(static_cast<int>(rng_() % h_.num_workers()), step);
      for (int w = 0; w < h_.num_workers(); ++w) {
        if (restore_at_[w] >= 0 && restore_at_[w] <= step) Restore(w);
      }
      if (on_step) on_step(step);
      Offer();
    }
    return step;
  }

  double now() const { return now_; }

 private:
  struct Ev {
    double time;
    int64_t seq;
    Unit unit;
    int generation;
  };
  struct Later {
    bool operator()(const Ev& a, const Ev& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  bool Chance(double p) { return p > 0 && Uniform01(rng_) < p; }

  void Offer() {
    // Random worker order, so no worker is systematically first to choose.
    std::vector<int> order(h_.num_workers());
    for (int w = 0; w < h_.num_workers(); ++w) order[w] = w;
    Shuffle(order, rng_);
    for (int w : order) {
      if (h_.worker_lost(w) || h_.worker_busy(w)) continue;
      std::optional<Unit> u = h_.Next(w);
      if (!u) continue;
      EXPECT_EQ(u->worker, w);
      c_.Started(*u);
      double cost = u->model < static_cast<int>(cfg_.model_cost.size())
                        ? cfg_.model_cost[u->model]
                        : 1.0;
      double j = 1 - cfg_.jitter + 2 * cfg_.jitter * Uniform01(rng_);
      queue_.push(Ev{now_ + cost / cfg_.worker_speed[w] * j, seq_++, *u, generation_[w]});
    }
  }

  void Lose(int w, int64_t step) {
    if (h_.worker_lost(w)) return;
    std::optional<Unit> running = h_.running_unit(w);
    h_.WorkerLost(w);
    EXPECT_FALSE(h_.worker_busy(w));
    if (running) c_.Failed(*running);
    ++generation_[w];  // its in-flight completion is void now
    restore_at_[w] = step + cfg_.restore_after;
  }

  void Restore(int w) {
    h_.WorkerRestored(w);
    restore_at_[w] = -1;
  }

  Hopper& h_;
  Checker& c_;
  FakeLoopConfig cfg_;
  std::mt19937_64 rng_;
  std::priority_queue<Ev, std::vector<Ev>, Later> queue_;
  std::vector<int> generation_;
  std::vector<int64_t> restore_at_;
  double now_ = 0;
  int64_t seq_ = 0;
};

}  // namespace cerebro::sched::testing

// Hopper: the Model Hopper Parallelism (MOP) scheduler. Pure decision logic with no
// clock, no threads and no I/O: the caller (driver) tells it when workers are idle and
// when units complete or fail, and it answers which unit a worker should run next.
//
// A *unit* is one pass of one model over one partition: a training unit on train
// partition p, or an evaluation unit on validation partition p. Each epoch of a model
// consists of a training unit on every partition, followed (if eval_units) by an
// evaluation unit on every partition. Worker w holds train and validation partition
// worker_partition[w]; several workers may hold the same partition (replicas, used by
// the task-parallel strategy).
//
// Invariants (enforced; violating calls CHECK-fail, as they are driver bugs):
//   completeness   - every live model runs exactly one unit per (epoch, kind, partition);
//   isolation      - never two running units of one model;
//   exclusivity    - never two running units on one worker;
//   non-preemption - a running unit ends only through Complete() or Fail().
// Not thread-safe: call from one thread (the driver's loop).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace cerebro::sched {

using ModelId = int;
using WorkerId = int;

enum class UnitKind { kTrain = 0, kEval = 1 };

struct Unit {
  ModelId model = -1;
  int epoch = 0;      // 0-based epoch of this model
  UnitKind kind = UnitKind::kTrain;
  int partition = 0;  // train or validation partition index, by kind
  WorkerId worker = -1;
};

enum class Order {
  kRandom,  // randomized greedy: any pending partition, chosen when a worker frees up
  kFixed,   // each model's per-epoch partition order is a seeded permutation, fixed in
            // advance, so results do not depend on timing (bitwise reproducible on CPU)
};

enum class Policy {
  kRandomGreedy,  // Cerebro's default: idle worker picks a random eligible idle model
  kLowestIdFirst, // FIFO over model ids: trains models one after another (sequential/task)
};

struct HopperOptions {
  uint64_t seed = 0;
  Order order = Order::kRandom;
  Policy policy = Policy::kRandomGreedy;
  bool eval_units = true;  // false: epochs have training units only (the simulator)
};

// What a Complete() call finished, beyond the unit itself.
struct CompletionEvents {
  bool epoch_done = false;  // the unit was the model's last of its epoch (train+eval)
  bool model_done = false;  // ... and the model has no epochs left
};

class Hopper {
 public:
  Hopper(std::vector<int> worker_partition, HopperOptions options);

  int num_workers() const;
  int num_partitions() const;  // 1 + max(worker_partition)

  // Registers a new model that will run `epochs` epochs (>= 0). Ids must be unique.
  void AddModel(ModelId id, int epochs);
  // Gives a live model `more` additional epochs (used by successive-halving style procedures).
  void ExtendModel(ModelId id, int more);
  // Stops a model: its pending units are dropped. If a unit is running it still reports
  // through Complete()/Fail(), but nothing further is scheduled.
  void StopModel(ModelId id);

  // The unit worker `w` should run next, or nullopt if nothing is eligible now. Marks
  // the model and worker busy. Must only be called for an idle, live worker.
  std::optional<Unit> Next(WorkerId w);
  // The unit finished successfully.
  CompletionEvents Complete(const Unit& unit);
  // The unit did not finish (worker died, unit error to be retried): it becomes pending
  // again; the model and the worker become idle.
  void Fail(const Unit& unit);
  // The worker is gone: its running unit (if any) is re-queued and the worker receives
  // nothing until WorkerRestored(w).
  void WorkerLost(WorkerId w);
  void WorkerRestored(WorkerId w);

  bool worker_busy(WorkerId w) const;
  bool model_busy(ModelId id) const;
  // Epochs completed by the model so far.
  int epochs_done(ModelId id) const;
  // True when no unit is pending or running.
  bool Done() const;
  int64_t units_completed() const;
  int64_t units_remaining() const;  // pending + running, over all live models
  // The fixed-order permutation of train partitions for (model, epoch) (Order::kFixed).
  std::vector<int> FixedOrder(ModelId id, int epoch) const;

 private:
  struct ModelState;
  // (implementation-defined members)
  std::vector<int> worker_partition_;
  HopperOptions options_;
  std::mt19937_64 rng_;
  // ... see hopper.cc
};

}  // namespace cerebro::sched

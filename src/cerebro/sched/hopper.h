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
//
// Cost: Next() is O(1) for kRandomGreedy (per-partition candidate sets) and O(candidates
// on the worker's partition) for the other policies; Next()/Complete()/Fail() also pay
// O(num_partitions) to move the model in or out of the candidate sets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "cerebro/common/ids.h"

namespace cerebro::sched {

using ::cerebro::ModelId;
using ::cerebro::UnitKind;
using ::cerebro::WorkerId;

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
  // LPT-like: the eligible model with the most remaining work (remaining units x the
  // model's cost hint, see SetCostHint) goes first; ties are broken at random (seeded).
  // Helps when a few expensive models, not a slow worker, bound the makespan.
  kMostRemainingWorkFirst,
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

  // Registers a new model that will run `epochs` epochs (>= 0). Ids must be unique
  // (also against stopped models).
  void AddModel(ModelId id, int epochs);
  // Gives a live (not stopped) model `more` (>= 0) additional epochs (used by
  // successive-halving style procedures). A model that had finished all its epochs
  // becomes schedulable again, starting at epoch epochs_done(id).
  void ExtendModel(ModelId id, int more);
  // Stops a model: its pending units are dropped. If a unit is running it still reports
  // through Complete()/Fail(), but nothing further is scheduled. Stopping twice is a no-op.
  void StopModel(ModelId id);
  // Relative cost of one unit of the model (e.g. FLOPs per example); > 0, default 1.
  // Only Policy::kMostRemainingWorkFirst reads it.
  void SetCostHint(ModelId id, double cost);

  // The unit worker `w` should run next, or nullopt if nothing is eligible now. Marks
  // the model and worker busy. Must only be called for an idle, live worker.
  std::optional<Unit> Next(WorkerId w);
  // The unit finished successfully.
  CompletionEvents Complete(const Unit& unit);
  // The unit did not finish (worker died, unit error to be retried): it becomes pending
  // again; the model and the worker become idle.
  void Fail(const Unit& unit);
  // The worker is gone: its running unit (if any) is re-queued and the worker receives
  // nothing until WorkerRestored(w). The re-queued unit is no longer running, so the
  // driver must not report it through Complete()/Fail() afterwards. Calling Next(w) on
  // a lost worker, or losing a lost worker, is a driver bug.
  void WorkerLost(WorkerId w);
  // A lost worker is back (holding the same partition) and may ask Next() again.
  void WorkerRestored(WorkerId w);

  bool worker_busy(WorkerId w) const;
  bool worker_lost(WorkerId w) const;
  // The unit worker `w` is running, if any.
  std::optional<Unit> running_unit(WorkerId w) const;
  bool model_busy(ModelId id) const;
  bool model_stopped(ModelId id) const;
  bool has_model(ModelId id) const;
  // Epochs completed by the model so far.
  int epochs_done(ModelId id) const;
  // Epochs the model was given (AddModel plus every ExtendModel).
  int epochs_total(ModelId id) const;
  // True when no unit is pending or running (a stopped model's running unit counts
  // until it reports), i.e. units_remaining() == 0.
  bool Done() const;
  int64_t units_completed() const;  // every Complete(), stopped models included
  // Pending units of live models plus every running unit.
  int64_t units_remaining() const;
  // The fixed-order permutation of train partitions for (model, epoch) (Order::kFixed):
  // ShuffledRange(num_partitions, DeriveSeed(seed, "sched.order", {model, epoch})).
  // Pure function of (seed, model, epoch, num_partitions); valid for any id.
  std::vector<int> FixedOrder(ModelId id, int epoch) const;

  // Resuming from a journal: marks a unit as already completed without running it. The
  // unit must be one the model could start right now (its current epoch and phase, still
  // pending, and next in its fixed order). Returns false and changes nothing otherwise,
  // so a journal that does not fit the schedule is detected rather than trusted.
  bool Restore(ModelId id, int epoch, UnitKind kind, int partition,
               CompletionEvents* events = nullptr);
  // Resuming: the model's training units of its current epoch that completed run again
  // (their states were lost: run.checkpoint epoch keeps only epoch-ending states durable).
  // Only while the model is idle in its training phase; returns how many units reopened
  // (0 and nothing changed otherwise). The fixed order of the epoch is the same.
  int RedoEpochTraining(ModelId id);
  // Replay: makes Order::kFixed follow `order` (a permutation of the partitions) for the
  // model's training units in `epoch`, instead of the seeded one. Call before AddModel.
  void SetTrainOrder(ModelId id, int epoch, std::vector<int> order);

 private:
  // Per-unit state within the model's current phase.
  enum class Slot : uint8_t { kPending, kRunning, kDone };

  struct ModelState {
    ModelId id = -1;
    int epochs_total = 0;
    int epoch = 0;                    // current epoch; == epochs_total when finished
    UnitKind phase = UnitKind::kTrain;
    bool stopped = false;
    bool running = false;
    WorkerId worker = -1;             // valid while running
    int done_in_phase = 0;
    int done_in_epoch = 0;            // train + eval units completed in `epoch`
    double cost_hint = 1.0;
    std::vector<Slot> slots;          // by partition, for the current phase
    std::vector<int> order;           // kFixed: train order of the current epoch
    std::vector<int> cand_pos;        // by partition: index in candidates_[p], or -1
  };

  int units_per_epoch() const { return num_partitions_ * (options_.eval_units ? 2 : 1); }
  int64_t ModelRemaining(const ModelState& m) const;  // pending + running units
  int Index(ModelId id) const;                        // CHECK-fails on unknown ids
  void StartPhase(ModelState& m, UnitKind phase);     // all slots pending
  bool Eligible(const ModelState& m, int p) const;
  void AddCandidates(int idx);     // inserts the model where Eligible()
  void RemoveCandidates(int idx);  // removes the model from every candidate set
  int PickCandidate(int p);        // a model index from candidates_[p] (non-empty)
  uint64_t Uniform(uint64_t n);    // UniformBelow(rng_, n): unbiased, portable
  void ValidateRunning(const Unit& unit) const;
  void Requeue(int idx, WorkerId w);  // shared by Fail and WorkerLost
  CompletionEvents Advance(ModelState& m, int partition);  // a unit of m is done

  std::vector<int> worker_partition_;
  HopperOptions options_;
  std::mt19937_64 rng_;
  int num_partitions_ = 0;
  std::vector<ModelState> models_;              // dense; never shrinks
  std::unordered_map<ModelId, int> index_;      // id -> position in models_
  std::vector<std::vector<int>> candidates_;    // by partition: idle, live, eligible models
  std::vector<int> worker_model_;               // by worker: running model index or -1
  std::vector<uint8_t> worker_lost_;
  std::map<std::pair<ModelId, int>, std::vector<int>> scripted_orders_;  // (model, epoch)
  int64_t units_completed_ = 0;
  int64_t units_remaining_ = 0;
};

}  // namespace cerebro::sched

// Hopper implementation. The core data structure is one candidate set per partition:
// candidates_[p] holds exactly the models that are live, idle and have an eligible
// pending unit on p (respecting the fixed order in Order::kFixed). Next(w) then only
// draws from candidates_[worker_partition[w]], and every state change of a model
// (start, finish, fail, stop, extend) moves it in or out of the sets in O(P).
#include "cerebro/sched/hopper.h"

#include <algorithm>

#include "cerebro/common/rng.h"
#include "cerebro/common/status.h"

namespace cerebro::sched {

Hopper::Hopper(std::vector<int> worker_partition, HopperOptions options)
    : worker_partition_(std::move(worker_partition)),
      options_(options),
      rng_(DeriveSeed(options.seed, "sched.pick")) {
  CEREBRO_CHECK(!worker_partition_.empty());
  for (int p : worker_partition_) {
    CEREBRO_CHECK(p >= 0);
    num_partitions_ = std::max(num_partitions_, p + 1);
  }
  // A partition nobody holds could never be trained on, so every model would stall.
  std::vector<uint8_t> held(num_partitions_, 0);
  for (int p : worker_partition_) held[p] = 1;
  for (uint8_t h : held) CEREBRO_CHECK(h);
  candidates_.resize(num_partitions_);
  worker_model_.assign(worker_partition_.size(), -1);
  worker_lost_.assign(worker_partition_.size(), 0);
}

int Hopper::num_workers() const { return static_cast<int>(worker_partition_.size()); }
int Hopper::num_partitions() const { return num_partitions_; }

int Hopper::Index(ModelId id) const {
  auto it = index_.find(id);
  CEREBRO_CHECK(it != index_.end());
  return it->second;
}

int64_t Hopper::ModelRemaining(const ModelState& m) const {
  return static_cast<int64_t>(m.epochs_total - m.epoch) * units_per_epoch() - m.done_in_epoch;
}

void Hopper::StartPhase(ModelState& m, UnitKind phase) {
  m.phase = phase;
  m.done_in_phase = 0;
  m.slots.assign(num_partitions_, Slot::kPending);
  if (phase == UnitKind::kTrain && options_.order == Order::kFixed) {
    m.order = FixedOrder(m.id, m.epoch);
  }
}

bool Hopper::Eligible(const ModelState& m, int p) const {
  if (m.stopped || m.running || m.epoch >= m.epochs_total) return false;
  if (m.slots[p] != Slot::kPending) return false;
  // Eval units do not change the model, so only training follows the fixed order.
  if (options_.order == Order::kFixed && m.phase == UnitKind::kTrain) {
    return m.order[m.done_in_phase] == p;
  }
  return true;
}

void Hopper::AddCandidates(int idx) {
  ModelState& m = models_[idx];
  for (int p = 0; p < num_partitions_; ++p) {
    if (m.cand_pos[p] < 0 && Eligible(m, p)) {
      m.cand_pos[p] = static_cast<int>(candidates_[p].size());
      candidates_[p].push_back(idx);
    }
  }
}

void Hopper::RemoveCandidates(int idx) {
  ModelState& m = models_[idx];
  for (int p = 0; p < num_partitions_; ++p) {
    int pos = m.cand_pos[p];
    if (pos < 0) continue;
    // Swap-remove keeps the set dense so a uniform draw is one index.
    std::vector<int>& set = candidates_[p];
    int last = set.back();
    set[pos] = last;
    models_[last].cand_pos[p] = pos;
    set.pop_back();
    m.cand_pos[p] = -1;
  }
}

uint64_t Hopper::Uniform(uint64_t n) { return UniformBelow(rng_, n); }

int Hopper::PickCandidate(int p) {
  const std::vector<int>& set = candidates_[p];
  switch (options_.policy) {
    case Policy::kRandomGreedy:
      return set[Uniform(set.size())];
    case Policy::kLowestIdFirst: {
      int best = set[0];
      for (int idx : set) {
        if (models_[idx].id < models_[best].id) best = idx;
      }
      return best;
    }
    case Policy::kMostRemainingWorkFirst: {
      int best = -1;
      double best_work = -1;
      uint64_t ties = 0;
      for (int idx : set) {
        const ModelState& m = models_[idx];
        double work = static_cast<double>(ModelRemaining(m)) * m.cost_hint;
        if (work > best_work) {
          best = idx;
          best_work = work;
          ties = 1;
        } else if (work == best_work && Uniform(++ties) == 0) {
          best = idx;  // reservoir sampling: uniform among the tied maxima
        }
      }
      return best;
    }
  }
  CEREBRO_CHECK(false);
  return -1;
}

void Hopper::AddModel(ModelId id, int epochs) {
  CEREBRO_CHECK(epochs >= 0);
  CEREBRO_CHECK(index_.find(id) == index_.end());
  int idx = static_cast<int>(models_.size());
  index_.emplace(id, idx);
  ModelState& m = models_.emplace_back();
  m.id = id;
  m.epochs_total = epochs;
  m.cand_pos.assign(num_partitions_, -1);
  StartPhase(m, UnitKind::kTrain);
  units_remaining_ += ModelRemaining(m);
  AddCandidates(idx);
}

void Hopper::ExtendModel(ModelId id, int more) {
  CEREBRO_CHECK(more >= 0);
  int idx = Index(id);
  ModelState& m = models_[idx];
  CEREBRO_CHECK(!m.stopped);
  bool was_finished = m.epoch >= m.epochs_total;
  m.epochs_total += more;
  units_remaining_ += static_cast<int64_t>(more) * units_per_epoch();
  if (was_finished && more > 0) {
    // A finished model is never running (the epoch advances on Complete), so it simply
    // starts its next epoch fresh.
    m.done_in_epoch = 0;
    StartPhase(m, UnitKind::kTrain);
    AddCandidates(idx);
  }
}

void Hopper::StopModel(ModelId id) {
  int idx = Index(id);
  ModelState& m = models_[idx];
  if (m.stopped) return;
  RemoveCandidates(idx);
  // Everything but the running unit (which still has to report) leaves the books now.
  units_remaining_ -= ModelRemaining(m) - (m.running ? 1 : 0);
  m.stopped = true;
}

void Hopper::SetCostHint(ModelId id, double cost) {
  CEREBRO_CHECK(cost > 0);
  models_[Index(id)].cost_hint = cost;
}

std::optional<Unit> Hopper::Next(WorkerId w) {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  CEREBRO_CHECK(!worker_lost_[w]);
  CEREBRO_CHECK(worker_model_[w] < 0);
  const int p = worker_partition_[w];
  if (candidates_[p].empty()) return std::nullopt;
  const int idx = PickCandidate(p);
  RemoveCandidates(idx);  // the model is busy now, so it is eligible nowhere
  ModelState& m = models_[idx];
  m.running = true;
  m.worker = w;
  m.slots[p] = Slot::kRunning;
  worker_model_[w] = idx;
  return Unit{m.id, m.epoch, m.phase, p, w};
}

void Hopper::ValidateRunning(const Unit& unit) const {
  CEREBRO_CHECK(unit.worker >= 0 && unit.worker < num_workers());
  const int idx = Index(unit.model);
  const ModelState& m = models_[idx];
  CEREBRO_CHECK(worker_model_[unit.worker] == idx);
  CEREBRO_CHECK(m.running && m.worker == unit.worker);
  CEREBRO_CHECK(unit.epoch == m.epoch && unit.kind == m.phase);
  CEREBRO_CHECK(unit.partition == worker_partition_[unit.worker]);
  CEREBRO_CHECK(m.slots[unit.partition] == Slot::kRunning);
}

CompletionEvents Hopper::Complete(const Unit& unit) {
  ValidateRunning(unit);
  const int idx = Index(unit.model);
  ModelState& m = models_[idx];
  m.running = false;
  m.worker = -1;
  worker_model_[unit.worker] = -1;
  ++units_completed_;
  --units_remaining_;
  if (m.stopped) return {};  // its remaining units were already dropped
  CompletionEvents events = Advance(m, unit.partition);
  AddCandidates(idx);
  return events;
}

CompletionEvents Hopper::Advance(ModelState& m, int partition) {
  CompletionEvents events;
  m.slots[partition] = Slot::kDone;
  ++m.done_in_phase;
  ++m.done_in_epoch;
  if (m.done_in_phase == num_partitions_) {
    if (m.phase == UnitKind::kTrain && options_.eval_units) {
      StartPhase(m, UnitKind::kEval);
    } else {
      events.epoch_done = true;
      ++m.epoch;
      m.done_in_epoch = 0;
      if (m.epoch < m.epochs_total) {
        StartPhase(m, UnitKind::kTrain);
      } else {
        events.model_done = true;
      }
    }
  }
  return events;
}

bool Hopper::Restore(ModelId id, int epoch, UnitKind kind, int partition,
                     CompletionEvents* events) {
  auto it = index_.find(id);
  if (it == index_.end() || partition < 0 || partition >= num_partitions_) return false;
  const int idx = it->second;
  ModelState& m = models_[idx];
  if (m.epoch != epoch || m.phase != kind || !Eligible(m, partition)) return false;
  RemoveCandidates(idx);
  ++units_completed_;
  --units_remaining_;
  CompletionEvents ev = Advance(m, partition);
  if (events != nullptr) *events = ev;
  AddCandidates(idx);
  return true;
}

int Hopper::RedoEpochTraining(ModelId id) {
  auto it = index_.find(id);
  if (it == index_.end()) return 0;
  const int idx = it->second;
  ModelState& m = models_[idx];
  if (m.running || m.stopped || m.phase != UnitKind::kTrain || m.epoch >= m.epochs_total) return 0;
  const int redo = m.done_in_phase;
  RemoveCandidates(idx);
  units_completed_ -= redo;
  units_remaining_ += redo;
  m.done_in_epoch -= redo;
  StartPhase(m, UnitKind::kTrain);
  AddCandidates(idx);
  return redo;
}

void Hopper::SetTrainOrder(ModelId id, int epoch, std::vector<int> order) {
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < static_cast<int>(sorted.size()); ++i) CEREBRO_CHECK(sorted[i] == i);
  CEREBRO_CHECK(static_cast<int>(order.size()) == num_partitions_);
  CEREBRO_CHECK(index_.find(id) == index_.end());  // before AddModel
  scripted_orders_[{id, epoch}] = std::move(order);
}

void Hopper::Requeue(int idx, WorkerId w) {
  ModelState& m = models_[idx];
  const int p = worker_partition_[w];
  m.running = false;
  m.worker = -1;
  worker_model_[w] = -1;
  if (m.stopped) {
    --units_remaining_;  // the last unit a stopped model had on the books
    return;
  }
  m.slots[p] = Slot::kPending;
  AddCandidates(idx);
}

void Hopper::Fail(const Unit& unit) {
  ValidateRunning(unit);
  Requeue(Index(unit.model), unit.worker);
}

void Hopper::WorkerLost(WorkerId w) {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  CEREBRO_CHECK(!worker_lost_[w]);
  worker_lost_[w] = 1;
  if (worker_model_[w] >= 0) Requeue(worker_model_[w], w);
}

void Hopper::WorkerRestored(WorkerId w) {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  CEREBRO_CHECK(worker_lost_[w]);
  worker_lost_[w] = 0;
}

bool Hopper::worker_busy(WorkerId w) const {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  return worker_model_[w] >= 0;
}

bool Hopper::worker_lost(WorkerId w) const {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  return worker_lost_[w] != 0;
}

std::optional<Unit> Hopper::running_unit(WorkerId w) const {
  CEREBRO_CHECK(w >= 0 && w < num_workers());
  const int idx = worker_model_[w];
  if (idx < 0) return std::nullopt;
  const ModelState& m = models_[idx];
  return Unit{m.id, m.epoch, m.phase, worker_partition_[w], w};
}

bool Hopper::model_busy(ModelId id) const { return models_[Index(id)].running; }
bool Hopper::model_stopped(ModelId id) const { return models_[Index(id)].stopped; }
bool Hopper::has_model(ModelId id) const { return index_.count(id) != 0; }
int Hopper::epochs_done(ModelId id) const { return models_[Index(id)].epoch; }
int Hopper::epochs_total(ModelId id) const { return models_[Index(id)].epochs_total; }
bool Hopper::Done() const { return units_remaining_ == 0; }
int64_t Hopper::units_completed() const { return units_completed_; }
int64_t Hopper::units_remaining() const { return units_remaining_; }

std::vector<int> Hopper::FixedOrder(ModelId id, int epoch) const {
  if (auto it = scripted_orders_.find({id, epoch}); it != scripted_orders_.end()) return it->second;
  return ShuffledRange(num_partitions_,
                       DeriveSeed(options_.seed, "sched.order",
                                  {static_cast<uint64_t>(static_cast<int64_t>(id)),
                                   static_cast<uint64_t>(epoch)}));
}

}  // namespace cerebro::sched

#include "cerebro/driver/run_state.h"

#include <algorithm>
#include <cmath>
#include <variant>

#include "cerebro/common/rng.h"
#include "cerebro/driver/ranking.h"
#include "cerebro/search/successive_halving.h"

namespace cerebro::driver {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

bool Live(const ModelRun& m) { return IsLive(m.outcome.status); }

// The order MOP trains units in, by what the search needs; other strategies keep
// `layout_policy` (task and sequential already train lowest id first).
sched::Policy MopPolicy(const spec::ExperimentSpec& spec, sched::Policy layout_policy) {
  if (spec.run.strategy != spec::Strategy::kMop) return layout_policy;
  // The procedure may want its decisions sooner rather than every model at once
  // (successive_halving.h).
  if (search::TrainsLowestIdFirst(spec)) return sched::Policy::kLowestIdFirst;
  // Grid and random search add every model at the start, so packing their units is a
  // makespan problem: most remaining units first (ties at random) keeps a worker from
  // idling while the models that need its partition are busy elsewhere, and ends the
  // models together (bench/results/2026-12-01-scheduler-policy.md). Procedures that add
  // models as results come in keep the random greedy order: most remaining work first
  // would put their newest models ahead of the older ones whose results they wait for.
  if (spec.search.method == spec::SearchMethod::kGrid ||
      spec.search.method == spec::SearchMethod::kRandom) {
    return sched::Policy::kMostRemainingWorkFirst;
  }
  return layout_policy;
}

}  // namespace

RunConfig RunConfigFor(const spec::ExperimentSpec& spec, const Layout& layout) {
  RunConfig c;
  c.worker_partition = layout.worker_partition;
  c.hopper.seed = DeriveSeed(spec.run.seed, "sched");
  c.hopper.order =
      spec.run.order == spec::Order::kFixed ? sched::Order::kFixed : sched::Order::kRandom;
  c.hopper.policy = MopPolicy(spec, layout.policy);
  c.max_unit_retries = spec.run.max_unit_retries;
  c.keep_best = spec.run.keep_best;
  c.keep_failed = spec.run.keep_failed;
  c.metric = spec.metric.name;
  c.direction = spec.metric.direction;
  c.objectives = spec::Objectives(spec);
  c.keep_completed_below_epochs = search::ExtendsCompletedModelsBelow(spec);
  return c;
}

RunState::RunState(RunConfig config)
    : config_(std::move(config)), hopper_(config_.worker_partition, config_.hopper) {}

StatusOr<ModelRun*> RunState::Find(ModelId id, const char* record) {
  auto it = models_.find(id);
  if (it == models_.end()) {
    return DataLoss(std::string(record) + ": unknown model " + std::to_string(id));
  }
  return &it->second;
}

Status RunState::Apply(const store::Record& record, Effects* fx) {
  Status st = Dispatch(record, fx);
  if (!std::holds_alternative<store::ProcedureDecision>(record)) {
    for (ModelId id : fx->status_changed) {
      const ModelStatus s = models_.at(id).outcome.status;
      if (s == ModelStatus::kFailed || s == ModelStatus::kStopped) fx->ended.push_back(id);
    }
  }
  unconsulted_ = Consultation{fx->epoch_finished, fx->ended};
  return st;
}

Status RunState::Dispatch(const store::Record& record, Effects* fx) {
  return std::visit(
      Overloaded{
          [&](const store::JournalHeader&) { return Status::Ok(); },
          [&](const store::DataRecorded& r) {
            data_identity_ = r.identity;
            return Status::Ok();
          },
          [&](const store::UnitDone& r) { return ApplyUnitDone(r, fx); },
          [&](const store::WorkerLost& r) { return ApplyUnitFailure(r.model, r.worker, r.error, fx); },
          [&](const store::UnitRetried& r) { return ApplyUnitFailure(r.model, r.worker, r.error, fx); },
          [&](const store::ModelFailed& r) { return ApplyModelFailed(r, fx); },
          [&](const store::ModelAdded& r) { return ApplyModelAdded(r, fx); },
          [&](const store::ModelStopped& r) { return ApplyModelStopped(r, fx); },
          [&](const store::ModelExtended& r) { return ApplyModelExtended(r, fx); },
          [&](const store::ProcedureDecision& r) { return ApplyDecision(r, fx); },
          [&](const store::StateRolledBack& r) { return ApplyRolledBack(r, fx); },
      },
      record);
}

Status RunState::ApplyUnitDone(const store::UnitDone& r, Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(r.model, "unit"));
  if (!Live(*m)) return DataLoss("unit: model " + std::to_string(r.model) + " is not live");
  sched::CompletionEvents ev;
  std::optional<sched::Unit> running =
      r.worker >= 0 && r.worker < hopper_.num_workers() ? hopper_.running_unit(r.worker)
                                                        : std::nullopt;
  if (running && running->model == r.model && running->epoch == r.epoch &&
      running->kind == r.kind && running->partition == r.partition) {
    ev = hopper_.Complete(*running);  // the live path: the unit ran on that worker
  } else if (!hopper_.Restore(r.model, r.epoch, r.kind, r.partition, &ev)) {
    return DataLoss("unit: model " + std::to_string(r.model) + " epoch " +
                    std::to_string(r.epoch + 1) + " " + std::string(EnumName(r.kind)) +
                    " partition " + std::to_string(r.partition) +
                    " does not fit the schedule (was the spec or journal edited?)");
  }
  auto acc = m->open_epochs.try_emplace(r.epoch, hopper_.num_partitions()).first;
  acc->second.Add(r.kind, r.partition, r.worker, r.loss_sum, r.correct, r.examples,
                  r.compute_seconds);
  if (r.kind == UnitKind::kTrain) {
    ++m->outcome.train_units;
    ++m->train_seq;
    // Rotation: the new state replaces the previous one, which is obsolete once this
    // record is durable; the latest durable state goes only when a newer one is durable.
    const std::string& previous = m->outcome.checkpoint;
    if (!previous.empty() && previous != r.checkpoint && previous != m->durable_checkpoint) {
      fx->obsolete_states.push_back(previous);
    }
    if (r.durable) {
      if (!m->durable_checkpoint.empty() && m->durable_checkpoint != r.checkpoint) {
        fx->obsolete_states.push_back(m->durable_checkpoint);
      }
      m->durable_checkpoint = r.checkpoint;
      m->durable_size = r.state_size;
      m->durable_hash = r.state_hash;
    }
    m->outcome.checkpoint = r.checkpoint;
    m->state_size = r.state_size;
    m->state_hash = r.state_hash;
  } else {
    ++m->outcome.eval_units;
  }
  if (m->outcome.status == ModelStatus::kPending) SetStatus(*m, ModelStatus::kRunning, fx);
  if (ev.epoch_done) CloseEpoch(*m, r.epoch, fx);
  if (ev.model_done && Live(*m)) {
    SetStatus(*m, ModelStatus::kCompleted, fx);
    Retain(fx);
  }
  return Status::Ok();
}

void RunState::CloseEpoch(ModelRun& m, int epoch, Effects* fx) {
  store::EpochRow row = m.open_epochs.at(epoch).Close(m.outcome.id, epoch);
  m.open_epochs.erase(epoch);
  rows_.push_back(row);
  m.outcome.history.push_back(row);
  fx->epochs_done.push_back(row);
  if (!std::isfinite(row.val_loss)) {
    Fail(m, "non-finite validation loss after epoch " + std::to_string(row.epoch), fx);
    return;
  }
  if (m.pending_stop && hopper_.epochs_done(m.outcome.id) < m.epochs) {
    const store::ModelStopped stop = *m.pending_stop;
    m.pending_stop.reset();
    Stop(m, stop, fx);
  }
  m.pending_stop.reset();  // a model that just finished its budget completes instead
  fx->epoch_finished = m.outcome.id;
}

Status RunState::ApplyUnitFailure(ModelId model, WorkerId worker, const std::string& error,
                                  Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(model, "unit failure"));
  if (worker >= 0 && worker < hopper_.num_workers()) {
    std::optional<sched::Unit> running = hopper_.running_unit(worker);
    if (running && running->model == model) hopper_.Fail(*running);  // re-queued
  }
  ++m->failures;
  if (Live(*m) && m->failures > config_.max_unit_retries) {
    Fail(*m, "its units failed " + std::to_string(m->failures) + " times; last: " + error, fx);
  }
  return Status::Ok();
}

Status RunState::ApplyModelFailed(const store::ModelFailed& r, Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(r.model, "model_failed"));
  // Already failed (e.g. by its retry count, which the first release also journaled).
  if (m->outcome.status == ModelStatus::kFailed) return Status::Ok();
  Fail(*m, r.reason.empty() ? "failed" : r.reason, fx);
  return Status::Ok();
}

// A unit of the model still running keeps its worker until its completion arrives; the
// loop then discards it (the hopper schedules nothing more for a stopped model).
void RunState::Fail(ModelRun& m, const std::string& why, Effects* fx) {
  m.outcome.failure = why;
  hopper_.StopModel(m.outcome.id);
  SetStatus(m, ModelStatus::kFailed, fx);
  Retain(fx);
}

void RunState::SetStatus(ModelRun& m, ModelStatus status, Effects* fx) {
  if (m.outcome.status == status) return;
  m.outcome.status = status;
  fx->status_changed.push_back(m.outcome.id);
}

Status RunState::ApplyModelAdded(const store::ModelAdded& r, Effects* fx) {
  if (models_.count(r.model)) {
    return DataLoss("model_added: model " + std::to_string(r.model) + " exists already");
  }
  if (r.parent >= 0 && !models_.count(r.parent)) {
    return DataLoss("model_added: parent " + std::to_string(r.parent) + " is unknown");
  }
  auto it = config_.scripted_orders.lower_bound({r.model, 0});
  for (; it != config_.scripted_orders.end() && it->first.first == r.model; ++it) {
    hopper_.SetTrainOrder(r.model, it->first.second, it->second);
  }
  ModelRun& m = models_[r.model];
  m.outcome.id = r.model;
  m.outcome.params = r.params;
  m.outcome.origin = r.origin;
  m.outcome.parent = r.parent;
  m.outcome.checkpoint = r.warm_start;  // the state its first unit starts from
  m.durable_checkpoint = r.warm_start;  // written durably before this record
  m.config_json = r.params.dump();
  m.epochs = r.epochs;
  if (config_.count_parameters) m.outcome.num_parameters = config_.count_parameters(r.params);
  next_model_id_ = std::max(next_model_id_, r.model + 1);
  hopper_.AddModel(r.model, r.epochs);
  fx->status_changed.push_back(r.model);
  if (r.epochs == 0) SetStatus(m, ModelStatus::kCompleted, fx);
  return Status::Ok();
}

// A stop lands on an epoch boundary: at once when the model has no unit of its current
// epoch recorded (a unit it may be running then is discarded when it reports), else when
// that epoch closes. Decided from journaled state only, so replay agrees with the live run.
Status RunState::ApplyModelStopped(const store::ModelStopped& r, Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(r.model, "model_stopped"));
  // A procedure may stop a model that completed its budget: it does not promote it past
  // that budget (Hyperband's rungs). Anyone else's stop of a finished model is moot.
  const bool not_promoted =
      m->outcome.status == ModelStatus::kCompleted && r.reason == store::StopReason::kProcedure;
  if (!Live(*m) && !not_promoted) return Status::Ok();  // finished or failed meanwhile
  if (!m->open_epochs.empty()) {
    m->pending_stop = r;
    return Status::Ok();
  }
  Stop(*m, r, fx);
  return Status::Ok();
}

void RunState::Stop(ModelRun& m, const store::ModelStopped& r, Effects* fx) {
  hopper_.StopModel(m.outcome.id);
  m.outcome.failure =
      r.detail.empty() ? "stopped (" + std::string(EnumName(r.reason)) + ")" : r.detail;
  SetStatus(m, ModelStatus::kStopped, fx);
  Retain(fx);
}

Status RunState::ApplyModelExtended(const store::ModelExtended& r, Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(r.model, "model_extended"));
  if (m->outcome.status == ModelStatus::kFailed || m->outcome.status == ModelStatus::kStopped) {
    return DataLoss("model_extended: model " + std::to_string(r.model) + " is " +
                    std::string(EnumName(m->outcome.status)));
  }
  if (r.epochs <= m->epochs) return Status::Ok();  // never shrinks
  if (m->outcome.train_units > 0 && m->outcome.checkpoint.empty()) {
    return DataLoss("model_extended: model " + std::to_string(r.model) +
                    "'s latest state was already dropped by retention (run.keep_best)");
  }
  hopper_.ExtendModel(r.model, r.epochs - m->epochs);
  m->epochs = r.epochs;
  if (m->outcome.status == ModelStatus::kCompleted) {
    SetStatus(*m, m->outcome.history.empty() ? ModelStatus::kPending : ModelStatus::kRunning, fx);
  }
  return Status::Ok();
}

Status RunState::ApplyDecision(const store::ProcedureDecision& r, Effects* fx) {
  for (const store::Action& a : r.actions) {
    Status st = std::visit(
        Overloaded{[&](const store::ModelAdded& x) { return ApplyModelAdded(x, fx); },
                   [&](const store::ModelStopped& x) { return ApplyModelStopped(x, fx); },
                   [&](const store::ModelExtended& x) { return ApplyModelExtended(x, fx); }},
        a);
    RETURN_IF_ERROR(st);
  }
  procedure_state_ = r.state;
  return Status::Ok();
}

std::optional<sched::Unit> RunState::StartUnit(WorkerId w) {
  if (hopper_.worker_busy(w) || hopper_.worker_lost(w)) return std::nullopt;
  return hopper_.Next(w);
}

void RunState::DiscardUnit(const sched::Unit& unit) { hopper_.Fail(unit); }

bool RunState::EndsEpochTraining(const sched::Unit& u) const {
  if (u.kind != UnitKind::kTrain) return false;
  const ModelRun& m = models_.at(u.model);
  auto open = m.open_epochs.find(u.epoch);
  const int done = open == m.open_epochs.end() ? 0 : open->second.train_units();
  return done + 1 == hopper_.num_partitions();
}

// The units are forgotten, not the record of them: the hopper runs them again and the
// redone units' records follow this one (same seeds, same states: the same metrics).
Status RunState::ApplyRolledBack(const store::StateRolledBack& r, Effects* fx) {
  ASSIGN_OR_RETURN(ModelRun * m, Find(r.model, "rolled_back"));
  const std::string what = "rolled_back: model " + std::to_string(r.model) + " epoch " +
                           std::to_string(r.epoch + 1) + ": ";
  if (!Live(*m) || m->outcome.checkpoint != r.checkpoint ||
      m->durable_checkpoint == r.checkpoint || hopper_.epochs_done(r.model) != r.epoch) {
    return DataLoss(what + r.checkpoint + " is not its latest state inside that epoch");
  }
  const int redo = hopper_.RedoEpochTraining(r.model);
  if (redo == 0) return DataLoss(what + "no training unit of that epoch to redo");
  fx->obsolete_states.push_back(r.checkpoint);
  m->outcome.checkpoint = m->durable_checkpoint;
  m->state_size = m->durable_size;
  m->state_hash = m->durable_hash;
  m->train_seq -= redo;
  m->outcome.train_units -= redo;
  m->open_epochs.erase(r.epoch);
  return Status::Ok();
}

void RunState::WorkerGone(WorkerId w) {
  if (!hopper_.worker_lost(w)) hopper_.WorkerLost(w);
}

std::set<std::string> RunState::StatesToKeep() const {
  std::set<std::string> keep;
  std::vector<store::ModelOutcome> finished;
  for (const auto& [id, m] : models_) {
    if (m.outcome.checkpoint.empty()) continue;
    switch (m.outcome.status) {
      case ModelStatus::kPending:
      case ModelStatus::kRunning:
        keep.insert(m.outcome.checkpoint);
        if (!m.durable_checkpoint.empty()) keep.insert(m.durable_checkpoint);
        break;
      case ModelStatus::kFailed:
        if (config_.keep_failed) keep.insert(m.outcome.checkpoint);
        break;
      case ModelStatus::kCompleted:
        if (m.epochs < config_.keep_completed_below_epochs) {
          keep.insert(m.outcome.checkpoint);  // its procedure may still extend it
          break;
        }
        [[fallthrough]];
      case ModelStatus::kStopped:
        finished.push_back(m.outcome);
        break;
    }
  }
  RankModels(&finished, config_.ranked_by());
  for (size_t i = 0; i < finished.size() && i < static_cast<size_t>(config_.keep_best); ++i) {
    keep.insert(finished[i].checkpoint);
  }
  return keep;
}

void RunState::Retain(Effects* fx) {
  const std::set<std::string> keep = StatesToKeep();
  for (auto& [id, m] : models_) {
    // A model that trains no more needs no durable state to fall back to.
    if (!Live(m) && !m.durable_checkpoint.empty() && m.durable_checkpoint != m.outcome.checkpoint &&
        !keep.count(m.durable_checkpoint)) {
      fx->obsolete_states.push_back(m.durable_checkpoint);
      m.durable_checkpoint.clear();
    }
    if (m.outcome.checkpoint.empty() || keep.count(m.outcome.checkpoint)) continue;
    fx->obsolete_states.push_back(m.outcome.checkpoint);
    if (m.durable_checkpoint == m.outcome.checkpoint) m.durable_checkpoint.clear();
    m.outcome.checkpoint.clear();
  }
}

search::Observation RunState::Observe(int slots) const {
  search::Observation o;
  o.slots = slots;
  for (const auto& [id, m] : models_) {
    search::ModelView v;
    v.id = id;
    v.params = m.outcome.params;
    v.status = m.outcome.status;
    v.epochs = m.epochs;
    for (const store::EpochRow& r : m.outcome.history) {
      v.history.push_back({r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy,
                           MetricOf(r, "seconds_per_example"),
                           static_cast<double>(m.outcome.num_parameters)});
    }
    o.models.push_back(std::move(v));
  }
  return o;
}

}  // namespace cerebro::driver

// RunState: the state of one run — its models (status, history, latest state), the MOP
// scheduler's bookkeeping and the procedure's progress — and the one place it changes:
// Apply(record). The live loop appends a record durably to the journal and then applies
// it; resume replays the journal through the same Apply. There is no restoring mode: a
// unit that is running on its worker completes, one that is not (replay) must be the
// unit the schedule would run next, or the journal does not fit the run (DataLoss).
//
// Apply never touches files; what it makes obsolete (a replaced checkpoint, states that
// retention drops) it reports in Effects for the caller to delete once the record is
// durable, so the journal always names states that exist.
//
// The one other mutation is transient: StartUnit/DiscardUnit mark units running on
// workers (dispatch), which is scheduling, not run state, and is never journaled.
// Not thread-safe: the run loop owns it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/driver/epoch_metrics.h"
#include "cerebro/driver/layout.h"
#include "cerebro/sched/hopper.h"
#include "cerebro/search/procedure.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

// What Apply needs from the spec; fixed for a run.
struct RunConfig {
  std::vector<int> worker_partition;  // by worker process
  sched::HopperOptions hopper;
  std::map<std::pair<ModelId, int>, std::vector<int>> scripted_orders;  // replay
  int max_unit_retries = 2;
  int keep_best = 5;
  bool keep_failed = false;
  std::string metric = "accuracy";
  spec::Direction direction = spec::Direction::kMaximize;
  std::vector<spec::MetricSpec> objectives;  // spec::Objectives
  // What the run ranks by (ranking.h): `objectives`, or {metric, direction} when they are
  // not set (a RunConfig made by hand).
  std::vector<spec::MetricSpec> ranked_by() const {
    return objectives.empty() ? std::vector<spec::MetricSpec>{{metric, direction}} : objectives;
  }
  // A model's trainable parameters from its params (driver/model_size.h), when an
  // objective is num_parameters; unset otherwise. Called once per added model.
  std::function<int64_t(const spec::Json& params)> count_parameters;
  // A completed model whose budget is below this many epochs keeps its latest state
  // whatever keep_best says: the procedure may still extend it (Hyperband's rungs;
  // search::ExtendsCompletedModelsBelow). 0: none is extended.
  int keep_completed_below_epochs = 0;
};

// The RunConfig of a run of `spec` laid out as `layout` (no scripted orders): what the
// run loop applies records with, and what readers replaying a journal (cerebro status) use.
RunConfig RunConfigFor(const spec::ExperimentSpec& spec, const Layout& layout);

// One model of the run.
struct ModelRun {
  store::ModelOutcome outcome;  // id, params, status, history, latest checkpoint, ...
  std::string config_json;      // params as the trainer reads them
  int epochs = 0;               // epoch budget
  int train_seq = 0;            // training units completed: names the next checkpoint
  int failures = 0;             // retryable unit failures (worker losses, retries)
  uint64_t state_size = 0;      // of outcome.checkpoint, when journaled (0 = unknown)
  uint64_t state_hash = 0;
  // The latest durable state (fsync'd; run.checkpoint epoch makes only epoch-ending states
  // durable) and its size and hash: what resume rolls back to when the latest state, in
  // the page cache only, was lost. Equal to outcome.checkpoint under run.checkpoint unit.
  std::string durable_checkpoint;
  uint64_t durable_size = 0;
  uint64_t durable_hash = 0;
  std::map<int, EpochAccumulator> open_epochs;  // by 0-based epoch
  // A stop journaled while the model was inside an epoch: it takes effect when that
  // epoch closes (a stop always lands on an epoch boundary).
  std::optional<store::ModelStopped> pending_stop;
};

// What one Apply changed, for the caller's side effects and the observers.
struct Effects {
  std::vector<store::EpochRow> epochs_done;        // rows this record closed
  std::vector<ModelId> status_changed;             // models whose status changed
  std::vector<std::string> obsolete_states;        // state files no longer needed
  std::optional<ModelId> epoch_finished;           // consult the procedure for it
  // Models this record ended other than by a procedure's decision (failed, or stopped by
  // the user): the procedure is told (Procedure::OnModelEnded).
  std::vector<ModelId> ended;
};

class RunState {
 public:
  explicit RunState(RunConfig config);

  // Applies one journal record. DataLoss (naming the model) when the record does not fit
  // the run: an unknown model, a unit the schedule would not run, a duplicate id.
  Status Apply(const store::Record& record, Effects* effects);

  // Dispatch: the unit worker `w` should run next (marks it running), or nullopt.
  std::optional<sched::Unit> StartUnit(WorkerId w);
  // A running unit whose result is dropped (its model failed or was stopped meanwhile).
  void DiscardUnit(const sched::Unit& unit);
  // The worker is gone for good (could not be restarted): nothing is sent to it again.
  void WorkerGone(WorkerId w);
  // Whether training unit `u` ends its model's training in its epoch: the state it
  // writes is the one run.checkpoint epoch makes durable.
  bool EndsEpochTraining(const sched::Unit& u) const;

  bool has_model(ModelId id) const { return models_.count(id) > 0; }
  const ModelRun& model(ModelId id) const { return models_.at(id); }
  const std::map<ModelId, ModelRun>& models() const { return models_; }
  ModelId next_model_id() const { return next_model_id_; }
  const sched::Hopper& hopper() const { return hopper_; }
  bool Done() const { return hopper_.Done(); }
  // Every epoch row, in the order the epochs finished.
  const std::vector<store::EpochRow>& rows() const { return rows_; }
  // Model-epochs finished so far (what the procedure has been shown).
  int64_t epochs_seen() const { return static_cast<int64_t>(rows_.size()); }
  // The identity of the store the run trains on, as journaled (null: the first release
  // recorded none).
  const spec::Json& data_identity() const { return data_identity_; }
  // The state the last journaled decision left the procedure in (null if none).
  const spec::Json& procedure_state() const { return procedure_state_; }
  // What the procedure is to be told about the last applied record (an epoch it finished,
  // models it ended), when no record followed it: after a crash in between, resume tells
  // it (nothing else was journaled meanwhile, so it sees what it would have seen).
  struct Consultation {
    std::optional<ModelId> epoch_finished;
    std::vector<ModelId> ended;
    bool empty() const { return !epoch_finished && ended.empty(); }
  };
  const Consultation& unconsulted() const { return unconsulted_; }

  // The state files the run keeps right now: the latest state (and the latest durable
  // one) of every model that may train again, the final states of the best keep_best finished models, failed models'
  // only with keep_failed, and warm-start states of models that have not started.
  std::set<std::string> StatesToKeep() const;
  // Every model as the procedure sees it.
  search::Observation Observe(int slots) const;

 private:
  Status Dispatch(const store::Record& record, Effects* fx);  // Apply, by record type
  Status ApplyUnitDone(const store::UnitDone& r, Effects* fx);
  Status ApplyUnitFailure(ModelId model, WorkerId worker, const std::string& error, Effects* fx);
  Status ApplyModelAdded(const store::ModelAdded& r, Effects* fx);
  Status ApplyModelFailed(const store::ModelFailed& r, Effects* fx);
  Status ApplyModelStopped(const store::ModelStopped& r, Effects* fx);
  Status ApplyModelExtended(const store::ModelExtended& r, Effects* fx);
  Status ApplyDecision(const store::ProcedureDecision& r, Effects* fx);
  Status ApplyRolledBack(const store::StateRolledBack& r, Effects* fx);
  void CloseEpoch(ModelRun& m, int epoch, Effects* fx);
  void Stop(ModelRun& m, const store::ModelStopped& r, Effects* fx);
  // Marks a live model failed and ends its schedule.
  void Fail(ModelRun& m, const std::string& why, Effects* fx);
  void SetStatus(ModelRun& m, ModelStatus status, Effects* fx);
  // Drops what retention no longer keeps from models' outcomes into fx.
  void Retain(Effects* fx);
  StatusOr<ModelRun*> Find(ModelId id, const char* record);

  RunConfig config_;
  sched::Hopper hopper_;
  std::map<ModelId, ModelRun> models_;
  ModelId next_model_id_ = 0;
  std::vector<store::EpochRow> rows_;
  spec::Json procedure_state_;
  spec::Json data_identity_;
  Consultation unconsulted_;
};

}  // namespace cerebro::driver

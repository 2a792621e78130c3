// RunLoop: one run of an experiment, new or resumed. It owns the store, the backend, the
// procedure and the RunState, and it is the only writer of the journal. Every change
// goes one way (docs/design.md):
//
//   procedure decision / command / backend completion
//     -> a typed record (store/journal.h)
//     -> 1. appended durably   2. RunState::Apply   3. obsolete states deleted
//     -> 4. observers, in journal order -> 5. the procedure, when an epoch finished
//
// Resume replays the journal through the same Apply. The loop sleeps in the backend's
// wait (woken by a completion or by the command source) and never polls.
// Its methods live in run_loop.cc (set-up, the record path, training, the end),
// run_loop_decisions.cc (decisions and commands into records) and run_loop_deadlines.cc
// (hung units). Not thread-safe; one RunLoop per run directory at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/layout.h"
#include "cerebro/driver/run_state.h"
#include "cerebro/search/procedure.h"
#include "cerebro/store/experiment_store.h"

namespace cerebro::driver {

class RunLoop {
 public:
  RunLoop(spec::ExperimentSpec spec, const RunOptions& options);
  ~RunLoop();

  // A new run: validate, prepare, publish, train.
  StatusOr<RunResult> RunNew();
  // An interrupted run: replay the journal, train what is left.
  StatusOr<RunResult> Resume(std::unique_ptr<store::ExperimentStore> store,
                             const spec::Json& models_json);

 private:
  // Set-up.
  RunConfig MakeRunConfig() const;
  StatusOr<std::unique_ptr<search::Procedure>> MakeProcedure() const;
  StatusOr<store::ProcedureDecision> InitialDecision();
  // Makes the run's data/ and returns the line that says how ("data: reused prepared
  // store ..."), printed once the workers are up (a run that fails to start prints only
  // its error).
  StatusOr<std::string> Prepare();
  Status LaunchBackend();
  bool LaunchesAhead() const;  // whether the workers start before preparation
  Status StartBackend();
  void StopBackend();
  void AttachObservers();
  Status ReplayJournal(const spec::Json& models_json);
  Status AfterReplay();
  // The record path: append, apply, delete what became obsolete, notify, consult.
  Status Commit(const store::Record& record);
  Status Notify(const store::Record& record, const Effects& fx);
  Status DeleteStates(const std::vector<std::string>& names);
  Status RemoveUnnamedStates();
  // Decisions and commands become actions (ids allocated, params validated).
  StatusOr<std::vector<store::Action>> ToActions(const std::vector<search::Decision>& decisions,
                                                 store::ModelOrigin origin, bool strict);
  StatusOr<store::Action> ToAction(const search::Decision& d, store::ModelOrigin origin,
                                   bool name_model, ModelId* next_id);
  Status Consult(RunState::Consultation c);  // a copy: consulting applies records
  Status ConsultProcedure(ModelId model, bool ended);
  Status TakeCommands();
  // The record a command becomes, and the line that acknowledges it; InvalidArgument /
  // FailedPrecondition (nothing changed) when it does not fit the run.
  StatusOr<store::Record> CommandRecord(const Command& command, std::string* message);
  // Training.
  Status Loop();
  Status DispatchAll();
  Status Dispatch(WorkerId w);
  Status Handle(exec::Completion c);
  Status HandleSuccess(exec::Completion& c);
  Status HandleFailure(const exec::Completion& c);
  Status RestartWorker(WorkerId w);
  // Hung units: a unit running longer than its limit is declared lost (driver/run_loop.cc).
  double Now() const;
  double UnitLimit(const sched::Unit& u) const;
  double SecondsToNextDeadline() const;
  Status ReplaceHungWorkers();
  void RecordUnitSeconds(const sched::Unit& u, double seconds);
  // The state the model's next unit starts from (null: fresh weights), read from its
  // checkpoint and verified against the journal when not in memory.
  StatusOr<std::shared_ptr<const std::string>> StateFor(const ModelRun& m);
  // StateFor without keeping the bytes (null: fresh weights).
  StatusOr<std::shared_ptr<const std::string>> ReadState(const ModelRun& m);
  // Whether the state a training unit writes is fsync'd before it is journaled
  // (run.checkpoint: every unit's, or only an epoch's last).
  bool DurableState(const sched::Unit& u) const;
  // run.checkpoint epoch, on resume: models whose latest state (not durable) does not
  // verify redo their epoch's training from their last durable state.
  Status RollBackLostStates();
  // A file of the run directory as a worker of a WritesCheckpoints() backend names it.
  std::string AbsoluteRunPath(const std::string& relative) const;
  // The data-parallel baseline (driver/data_parallel.h) on this run's models.
  Status LoopDataParallel(std::vector<store::ModelOutcome>* outcomes);
  std::vector<store::ModelOutcome> StateOutcomes() const;
  // The end: shut the backend down, rank `outcomes`, tell the observers.
  StatusOr<RunResult> Finish(Status loop_status, std::vector<store::ModelOutcome> outcomes);
  RunView View() const;

  spec::ExperimentSpec spec_;
  const RunOptions& options_;
  FileSystem* fs_;
  CommandSource* commands_;  // options.commands, or the control server; may be null
  Layout layout_;
  std::unique_ptr<store::ExperimentStore> store_;
  std::unique_ptr<exec::Backend> backend_;
  std::unique_ptr<search::Procedure> procedure_;
  std::unique_ptr<RunState> state_;
  std::unique_ptr<CommandSource> control_;  // the `cerebro ctl` channel, while the loop runs
  std::vector<std::unique_ptr<RunObserver>> own_observers_;
  std::vector<RunObserver*> observers_;
  bool observing_ = false;  // OnStarted was called: records reach the observers
  bool resumed_ = false;
  // Latest state bytes per model, with the checkpoint name they were read or written as.
  std::map<ModelId, std::pair<std::string, std::shared_ptr<const std::string>>> states_;
  std::vector<bool> worker_dead_;
  // Units in flight by worker, with when they were submitted (the loop's clock).
  std::map<WorkerId, std::pair<sched::Unit, double>> running_;
  std::map<WorkerId, double> submitted_wall_;  // the same, in Unix time (for the journal)
  // Recent finished units' seconds, per (model, kind) and per kind: what "expected" is.
  std::map<std::pair<ModelId, UnitKind>, std::vector<double>> model_seconds_;
  std::map<UnitKind, std::vector<double>> kind_seconds_;
  int in_flight_ = 0;
  int first_worker_ = 0;  // dispatch rotation
  double start_ = 0;
  store::RunTiming timing_;
};

}  // namespace cerebro::driver

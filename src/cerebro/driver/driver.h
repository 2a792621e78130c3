// The driver's entry points: run an experiment, resume one from its journal, replay one.
// A run expands its search procedure's decisions into models, prepares the partitioned
// data, starts the backend and drives the MOP scheduler event by event. Every change of
// state is a journal record (store/journal.h) appended durably and then applied to the
// RunState (driver/run_state.h); observers (driver/run_observer.h) derive the metrics
// files, summary.json and progress from the records. Models that fail are recorded and
// dropped; the experiment goes on with the others.
// Synchronous and single-threaded; one call per run directory at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/driver/command_source.h"
#include "cerebro/driver/progress.h"
#include "cerebro/driver/run_observer.h"
#include "cerebro/exec/backend.h"
#include "cerebro/exec/backend_factory.h"
#include "cerebro/search/procedure.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

using Json = spec::Json;
using ModelOutcome = store::ModelOutcome;
using RunTiming = store::RunTiming;

using BackendFactory =
    std::function<StatusOr<std::unique_ptr<exec::Backend>>(const exec::BackendConfig&)>;
using ProcedureFactory =
    std::function<StatusOr<std::unique_ptr<search::Procedure>>(const spec::ExperimentSpec&)>;

struct RunOptions {
  std::string out_dir;        // must not exist (run, replay); unused by resume
  std::string worker_binary;  // "" = beside this executable
  // Resume: when another process holds the run directory, wait for it to end instead of
  // refusing (a run directory has one writer at a time; store/run_lock.h).
  bool wait_for_lock = false;
  FileSystem* fs = nullptr;   // null = RealFileSystem()
  // Called in order after each record (and once at the start and the end); not owned.
  std::vector<RunObserver*> observers;
  // Commands for the running experiment (not owned; may be null).
  CommandSource* commands = nullptr;
  // Without `commands`: serve `cerebro ctl` on the run's control socket while the loop
  // runs (driver/control_server.h). The CLI's run and resume do.
  bool serve_control = false;
  // Makes the backend; null = exec::MakeBackend (tests pass a fake backend).
  BackendFactory backend_factory;
  // Makes the search procedure; null = search::MakeProcedure (the spec's search). Resume
  // must be given the same kind of procedure as the run it continues.
  ProcedureFactory procedure_factory;
  // Seconds on a monotonic clock; null = the real one (tests of hung units pass a fake).
  std::function<double()> clock;
  // Told how far data preparation has got (data::PrepareOptions::progress); not called
  // when a prepared store is reused or linked.
  data::PrepareProgress prepare_progress;
  // Replay: training partition order per (model id, epoch) to follow instead of the
  // seeded one (the run uses order: fixed).
  std::map<std::pair<int, int>, std::vector<int>> scripted_orders;
};

// The ranked result: summary.json's content, plus where the run is and what the
// backend warned about.
struct RunResult : store::Summary {
  std::string run_dir;
  std::vector<std::string> warnings;
};

// Runs the whole experiment. Bad input (spec, data, model configs) fails before the
// run directory appears. Once training started, failures of single models are recorded
// in the result, and only a failure of the whole machinery (no live worker, the store
// refusing writes) returns an error.
StatusOr<RunResult> RunExperiment(const spec::ExperimentSpec& spec, const RunOptions& options);

// Continues an interrupted run (the driver was killed at any point) from its journal:
// completed units are not redone, each model restarts from the state its last journaled
// unit produced, and procedure decisions are read back, not made again. With order:
// fixed the final metrics equal those of an uninterrupted run. A journal written by the
// first release (no header; models in models.json) is upgraded in place first. A run
// that already finished is reported again without training.
StatusOr<RunResult> ResumeExperiment(const std::string& run_dir, const RunOptions& options);

// Continues a finished run (`cerebro run --extend`; grid, random, TPE, PBT) with the spec
// overrides run.epochs (every completed model trains on to it, from its last state:
// extended models' metrics are those of a run that had the epochs from the start, with
// order: fixed bitwise; PBT goes on from its last round) and/or search.num_models (the
// search's next models join). Details: driver/run_directory.h's Extension.
// Takes the run lock, rewrites spec.json with the overrides, journals the extension as one
// decision record (model_extended, model_added) and trains as resume does; a crash after
// that record is finished by ResumeExperiment. InvalidArgument (one line, nothing
// changed) when the run is still running or not finished, or the overrides do not fit
// (driver/run_directory.h's PlanExtension); warnings name completed models whose final
// state retention dropped (they are left as they are).
StatusOr<RunResult> ExtendExperiment(const std::string& run_dir, const spec::Overrides& overrides,
                                     const RunOptions& options);

// Re-executes a run into options.out_dir following the partition order its journal
// recorded for every model and epoch, and compares the per-epoch metrics.
struct ReplayReport {
  RunResult replay;
  int64_t epochs_compared = 0;
  int64_t epochs_identical = 0;   // bitwise equal train/val loss and accuracy
  double max_abs_difference = 0;
  std::vector<std::string> divergences;  // one line per differing (model, epoch)
};
StatusOr<ReplayReport> ReplayExperiment(const std::string& run_dir, const RunOptions& options);

// The configurations `spec` generates, as a run's models.json holds them:
// [{"id": 0, "params": {...}}, ...]. InvalidArgument for a search space that yields none.
StatusOr<spec::Json> ConfigurationsJson(const spec::ExperimentSpec& spec);

// The data section of a spec in the data module's terms.
data::SourceSpec ToSourceSpec(const spec::ExperimentSpec& spec);

}  // namespace cerebro::driver

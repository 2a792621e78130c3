// The run loop: expands the search space, prepares the partitioned data, starts the
// backend, and drives the MOP scheduler event by event (a completion in, new units
// out) while recording every completed unit in the experiment store. Models that fail
// are recorded and dropped; the experiment goes on with the others.
// RunExperiment is synchronous and single-threaded; it is not re-entrant per run dir.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/exec/backend.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/experiment_store.h"

namespace cerebro::driver {

using Json = spec::Json;

// A snapshot for progress displays, taken after every completed unit.
struct Progress {
  int epoch = 0;        // 1-based: the lowest epoch any live model is still in
  int epochs = 0;
  int64_t units_done = 0;
  int64_t units_total = 0;
  double elapsed_seconds = 0;
  double eta_seconds = -1;  // -1 until estimable
  int best_model = -1;      // by the latest validation metric, -1 if none yet
  double best_value = 0;
  std::string metric;
};

struct RunOptions {
  std::string out_dir;        // must not exist
  std::string worker_binary;  // "" = beside this executable
  FileSystem* fs = nullptr;   // null = RealFileSystem()
  // Called once input was validated, the data prepared and the workers started.
  std::function<void(const std::string& run_dir, const spec::ExperimentSpec& spec)> on_started;
  std::function<void(const Progress&)> on_progress;
  // Called after each completion has been recorded; tests use it to inject faults.
  std::function<void(const exec::Completion&, exec::Backend&)> after_completion;
  // Replay: training partition order per (model id, epoch) to follow instead of the
  // seeded one (the run uses order: fixed).
  std::map<std::pair<int, int>, std::vector<int>> scripted_orders;
};

struct ModelOutcome {
  int id = 0;
  Json params;
  std::string status;   // "completed" | "failed"
  std::string failure;  // why, when failed
  std::vector<store::EpochRow> history;
  std::string checkpoint;  // latest state kept on disk, relative to the run dir; "" if none
  int train_units = 0;  // completed training units
  int eval_units = 0;
  int rank = 0;         // 1 = best; failed models rank after all completed ones
};

struct RunTiming {
  double wall_seconds = 0;        // the training loop, excluding preparation
  double prepare_seconds = 0;     // data preparation + worker start-up
  double compute_seconds = 0;     // sum over units of the pass itself
  double transfer_seconds = 0;    // sum over units of moving state driver<->worker
  double state_codec_seconds = 0; // sum over units of worker-side state (de)serialization
  double checkpoint_seconds = 0;  // sum of durable checkpoint writes
  int64_t train_examples = 0;     // examples processed by training units
  uint64_t state_bytes_moved = 0;
  uint64_t checkpoint_bytes = 0;  // on disk at the end, after retention
};

struct RunResult {
  std::string run_dir;
  std::vector<ModelOutcome> models;  // ranked: best first
  int best_model = -1;
  double best_value = 0;
  std::string metric;
  spec::Direction direction = spec::Direction::kMaximize;
  RunTiming timing;
  std::vector<std::string> warnings;
};

// Runs the whole experiment. Bad input (spec, data, model configs) fails before the
// run directory appears. Once training started, failures of single models are recorded
// in the result, and only a failure of the whole machinery (no live worker, the store
// refusing writes) returns an error.
StatusOr<RunResult> RunExperiment(const spec::ExperimentSpec& spec, const RunOptions& options);

// Continues an interrupted run (the driver was killed at any point) from its journal:
// completed units are not redone, each model restarts from the state its last journaled
// unit produced, and the search's configurations come from models.json. With order:
// fixed the final metrics equal those of an uninterrupted run. options.out_dir is unused.
// A run that already finished is reported again without training.
StatusOr<RunResult> ResumeExperiment(const std::string& run_dir, const RunOptions& options);

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

// The ranked table printed at the end of `cerebro run`.
std::string FormatRankedTable(const RunResult& result);

}  // namespace cerebro::driver

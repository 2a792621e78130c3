// RunStatus: what a run directory says about its run, live or finished (cerebro status):
// progress, the best model so far, what each worker ran last, failures and an ETA. Built
// by replaying the journal read-only through RunState::Apply, the same Apply the run loop
// and resume use; reading never takes the run's lock and never writes (a torn last line,
// which the owner may be appending right now, is skipped). Value types; thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

// One worker process: the units it finished and the last of them.
struct WorkerActivity {
  WorkerId worker = -1;
  int partition = 0;
  int64_t units = 0;          // units it finished
  double busy_seconds = 0;    // sum of their submit-to-finish wall times, where journaled
  store::UnitDone last;       // its last finished unit (model -1: none yet)
};

// A failure the journal records: a model that cannot go on (model_failed), or a unit that
// re-runs (worker_lost: its worker died, or hung; unit_retried).
struct RunFailure {
  std::string type;  // the record's tag: "model_failed", "worker_lost" or "unit_retried"
  ModelId model = -1;
  WorkerId worker = -1;  // -1 for model_failed
  int epoch = 0;         // 0-based, of the unit (worker_lost, unit_retried)
  std::string cause;     // exec::FailureCause's name ("worker_died", "hung", ...); may be ""
  std::string detail;    // the error or the reason
  int line = 0;          // journal line
};

struct RunStatus {
  std::string run_dir;
  std::string name;     // the spec's name
  std::string strategy;
  // A process holds RUN_DIR/lock: a run or resume is writing the run now.
  bool live = false;
  std::string owner;    // the lock file's pid, when live ("" if unknown)
  // summary.json says the run loop ended cleanly; `done`: the journal's schedule has no
  // unit left (a done run that is not finished was killed before it wrote its summary).
  bool finished = false;
  bool done = false;
  int64_t units_done = 0, units_total = 0;    // of the models journaled so far
  int64_t epochs_done = 0, epochs_total = 0;  // model-epochs
  std::map<ModelStatus, int> models_by_status;
  std::vector<store::ModelOutcome> models;    // ranked by driver/ranking.h's rule
  std::string metric;
  spec::Direction direction = spec::Direction::kMaximize;
  ModelId best_model = -1;  // rank 1 when it finished an epoch and did not fail
  double best_value = 0;
  int best_epochs = 0;
  // A run with two or more objectives: all of them, and the ids of the models on the
  // Pareto front so far (as summary.json has them at the end); empty for one objective.
  std::vector<spec::MetricSpec> objectives;
  std::vector<ModelId> pareto_front;
  std::vector<WorkerActivity> workers;  // by worker id
  std::vector<RunFailure> failures;     // in journal order
  int concurrency = 1;                  // units the run runs at once
  double first_submitted_at = 0;        // Unix seconds; 0 = no timed unit yet
  double last_finished_at = 0;
  // Seconds until the units left are done at the pace of those finished so far (their
  // mean wall time, over min(concurrency, live models) at once): a lower bound when an
  // adaptive procedure may still add models; 0 when done, -1 when unknown (no timed unit).
  double eta_seconds = -1;
};

// NotFound when `run_dir` is not a run directory; DataLoss naming the file and line when
// its spec, models.json or journal is malformed or the journal does not fit the run.
StatusOr<RunStatus> ReadRunStatus(const std::string& run_dir, FileSystem* fs);

// What a reader of results sees (cerebro report, the Python package's open()): summary.json,
// or for a run that has written none yet (live, or killed before its end) its models as the
// journal has them so far, ranked, with `finished` false. A directory that is no run keeps
// summary.json's NotFound ("no summary"); other errors as ReadSummary / ReadRunStatus.
StatusOr<store::Summary> ReadSummaryOrJournal(const std::string& run_dir, FileSystem* fs);

}  // namespace cerebro::driver

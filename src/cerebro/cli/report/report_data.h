// What `cerebro report` shows, read from a run directory without writing to it:
// summary.json (store::ReadSummary) and the journal's units (with their wall times),
// failures, lost workers and procedure decisions. Value types; LoadReportData is
// stateless and thread-safe.
#pragma once

#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/summary.h"

namespace cerebro::cli {

struct ReportData {
  std::string run_dir;
  store::Summary summary;
  std::vector<store::UnitDone> units;  // journal order
  std::vector<store::WorkerLost> workers_lost;
  std::vector<store::ProcedureDecision> decisions;
};

// Reads RUN_DIR/summary.json and RUN_DIR/journal.jsonl, the journal with
// store::Journal::ReadOnly: a run that is still live may be mid-append, so a torn last
// line is skipped, never truncated. A missing journal is an empty one; a corrupt line
// elsewhere is DataLoss "...journal.jsonl:N: ...".
StatusOr<ReportData> LoadReportData(FileSystem* fs, const std::string& run_dir);
// The same with the models given instead of read from summary.json (a live run, which
// has written none yet: the caller takes them from the journal; driver/run_status.h).
StatusOr<ReportData> LoadReportData(FileSystem* fs, const std::string& run_dir,
                                    store::Summary summary);

// The ranking metric's value for `model` after `row` (one of its epochs).
double MetricOf(const store::Summary& summary, const store::ModelOutcome& model,
                const store::EpochRow& row);

// How both formats name the ranking metric: "val accuracy", "val loss", or the metric's
// own name (num_parameters, train_loss, ...).
std::string MetricCaption(const std::string& metric);

// A run with two or more objectives: "Pareto front (val_accuracy max, num_parameters min):
// models 2, 0" — or "" for a single-objective run.
std::string DescribeFront(const store::Summary& summary);

// Whether the model has metrics to rank (completed or stopped, at least one epoch).
bool HasMetrics(const store::ModelOutcome& model);

// The run's setup and timing in one line, for both formats' headers: "mop on 2 workers
// (local), 2 partitions, 3 epochs, order random, seed 2026; 191.1 s training, 0.7 s
// preparing", or only the strategy for a run with no summary yet.
std::string DescribeRun(const store::Summary& summary);

// printf-formatted number ("%.4f" by default), for both formats.
std::string FormatNumber(double v, const char* format = "%.4f");

// Whether the model ended early (failed or stopped), and one line saying how and why:
// "model 3 stopped after 2 epochs: procedure: rung 1".
bool EndedEarly(const store::ModelOutcome& model);
std::string DescribeEnded(const store::ModelOutcome& model);
// "worker 1 lost during model 2 epoch 3 partition 0: <error> (unit re-run)".
std::string DescribeLost(const store::WorkerLost& lost);

// One line for a procedure's action, shared by both formats: "stop model 3 (procedure:
// rung 1)", "extend model 2 to 9 epochs", "add model 7 from model 2 {"lr":0.01}".
std::string DescribeAction(const store::Action& action);
// Whether the report lists the action: not the models the run starts with (added before
// any epoch, from no parent), which the ranked table already shows.
bool IsReported(const store::ProcedureDecision& decision, const store::Action& action);

// A worker's share of the run, from the units' wall times (units without them are left
// out): how many units it ran and how long it was busy within the run's span.
struct WorkerActivity {
  int worker = -1;
  int units = 0;
  double busy_seconds = 0;
};
std::vector<WorkerActivity> ActivityByWorker(const std::vector<store::UnitDone>& units);
// Seconds from the first unit's submission to the last unit's finish (0 without times).
double TimelineSpan(const std::vector<store::UnitDone>& units);

}  // namespace cerebro::cli

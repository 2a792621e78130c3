// summary.json: the ranked result of a run, in one place. The driver's summary observer
// fills a Summary and writes it with WriteSummary; `cerebro report`, the tests and any
// later reader (report, export, Python) read it back with ReadSummary, so the schema is
// known here only. Reading is strict: a truncated, non-JSON or wrong-typed file is one
// DataLoss line naming the file and the field. Value types; functions are stateless.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/ids.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/epoch_row.h"

namespace cerebro::store {

// Where a model came from (journaled with it; see store/journal.h).
enum class ModelOrigin { kSearch, kProcedure, kControl };

struct ModelOutcome {
  int id = 0;
  Json params;
  ModelStatus status = ModelStatus::kPending;
  std::string failure;  // why, when failed; why stopped, when stopped
  std::vector<EpochRow> history;
  std::string checkpoint;  // latest state kept on disk, relative to the run dir; "" if none
  int train_units = 0;     // completed training units
  int eval_units = 0;
  int rank = 0;            // 1 = best (see RankModels in driver/ for the rule)
  ModelOrigin origin = ModelOrigin::kSearch;
  int parent = -1;         // the model it was cloned or warm-started from, -1 if none
  // Trainable parameters, counted when an objective needs them (num_parameters); 0 = not
  // counted, and then not written.
  int64_t num_parameters = 0;
};

struct RunTiming {
  double wall_seconds = 0;        // the training loop, excluding preparation
  double prepare_seconds = 0;     // data preparation + worker start-up
  double compute_seconds = 0;     // sum over units of the pass itself
  double transfer_seconds = 0;    // sum over units of moving state driver<->worker
  double state_codec_seconds = 0; // sum over units of worker-side state (de)serialization
  double checkpoint_seconds = 0;  // sum of durable checkpoint writes
  // Driver-thread time spent making the run trustworthy: hashing states and the data
  // store, taking the run lock, and tracking units' deadlines (hung workers).
  double integrity_seconds = 0;
  // Driver-thread time spent in the run's observers (metrics files, summary.json,
  // TensorBoard, the progress line) while the loop ran: what watching a run costs.
  double observer_seconds = 0;
  int64_t train_examples = 0;     // examples processed by training units
  uint64_t state_bytes_moved = 0;
  uint64_t checkpoint_bytes = 0;  // on disk at the end, after retention
};

struct Summary {
  std::string name;                  // the spec's name ("" if none)
  std::string metric = "accuracy";   // the ranking metric's name (the first objective's)
  spec::Direction direction = spec::Direction::kMaximize;
  // A run with two or more objectives (spec.h): all of them, in order, and the ids of the
  // models no other model dominates, in rank order. Both empty (and not written) for
  // one objective, so single-metric summaries read and write as before.
  std::vector<spec::MetricSpec> objectives;
  std::vector<int> pareto_front;
  int best_model = -1;               // -1: no model finished an epoch without failing
  double best_value = 0;
  std::string strategy, backend, order;
  int workers = 0, partitions = 0, epochs = 0;
  uint64_t seed = 0;
  RunTiming timing;
  // The run loop ended cleanly (every model completed, stopped or failed); false when
  // the summary was written after the loop failed and the run can be resumed. Summaries
  // written before this field existed read as true.
  bool finished = true;
  std::vector<ModelOutcome> models;  // ranked: best first
};

// The value of `metric` (a name spec.h's MetricSpec admits) for model `m` after epoch `row`
// (one of its rows): validation or training accuracy or loss, seconds_per_example
// (seconds / train_examples; 0 without examples) or num_parameters (the model's).
double MetricValue(const ModelOutcome& m, const EpochRow& row, const std::string& metric);

// summary.json's text (pretty-printed JSON, as written to the run directory).
Json SummaryToJson(const Summary& summary);
// Parses summary.json's text; `source` names the file in errors.
StatusOr<Summary> ParseSummary(const std::string& text, const std::string& source);
// Reads and parses RUN_DIR/summary.json; NotFound ("no summary (is the run finished?)")
// when it does not exist.
StatusOr<Summary> ReadSummary(FileSystem* fs, const std::string& run_dir);

}  // namespace cerebro::store

namespace cerebro {
template <>
struct EnumNames<store::ModelOrigin> {
  static constexpr NamedValue<store::ModelOrigin> kTable[] = {
      {store::ModelOrigin::kSearch, "search"},
      {store::ModelOrigin::kProcedure, "procedure"},
      {store::ModelOrigin::kControl, "control"}};
};
}  // namespace cerebro

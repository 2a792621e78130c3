// Procedure: the seam through which a search method steers a run. A procedure never
// touches the run loop: it is shown the run's observations (every model's params,
// status and per-epoch metrics) at the start and after each epoch a model finishes, and
// answers with decisions as values — add models (optionally warm-started from another
// model's latest state), stop a model, extend a model's epoch budget. The driver journals
// each batch of decisions (with the procedure's state) before applying it, and on resume
// restores the procedure from its last journaled state instead of asking it again, so a
// procedure must be deterministic given its state and the observations.
// Grid and random search are static procedures (every model at the start).
// A Procedure is used by one thread (the run loop).
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "cerebro/common/ids.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

struct EpochMetrics {
  int epoch = 0;  // 1-based: "after epoch 1"
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double seconds_per_example = 0;  // measured cost (spec.h's MetricSpec)
  double num_parameters = 0;       // trainable parameters; 0 = unknown
};

// The value of the metric spec.h names `metric` ("accuracy", "loss", "num_parameters", ...).
double MetricValue(const EpochMetrics& e, const std::string& metric);
// The values of `objectives` in `e`, in order: a point for search/pareto.h.
std::vector<double> ObjectiveValues(const EpochMetrics& e,
                                    const std::vector<spec::MetricSpec>& objectives);

struct ModelView {
  ModelId id = -1;
  spec::Json params;
  ModelStatus status = ModelStatus::kPending;
  int epochs = 0;  // its epoch budget
  std::vector<EpochMetrics> history;
};

struct Observation {
  std::vector<ModelView> models;  // every model of the run, by id
  int slots = 1;                  // units that run at once (workers): a batch-size hint
};

struct AddModel {
  spec::Json params;  // flat object, as search::ModelConfig holds them
  int epochs = 0;
  ModelId warm_start_from = -1;  // start from this model's latest state; -1 = fresh
};
struct StopModel {
  ModelId model = -1;
  std::string detail;  // why, for the user ("rung 1: below the top 1/4")
};
struct ExtendModel {
  ModelId model = -1;
  int epochs = 0;  // the new total budget (> the current one)
};
using Decision = std::variant<AddModel, StopModel, ExtendModel>;

class Procedure {
 public:
  virtual ~Procedure() = default;
  // The decisions at the start of a run (a static search adds all its models here).
  // InvalidArgument for a search space that yields no model.
  virtual StatusOr<std::vector<Decision>> Start(const Observation& run) = 0;
  // After model `model` finished an epoch (run.models includes that epoch's metrics).
  virtual StatusOr<std::vector<Decision>> OnEpochDone(const Observation& run, ModelId model) = 0;
  // After model `model` ended other than by finishing an epoch or by this procedure's own
  // decision — it failed, or the user stopped it — so a procedure waiting on it can go on
  // (a Hyperband rung whose last live model it was, a TPE slot it held). Default: nothing.
  virtual StatusOr<std::vector<Decision>> OnModelEnded(const Observation& run, ModelId model) {
    return std::vector<Decision>{};
  }
  // The procedure's state after its last decision: journaled with the decision, and
  // handed back to RestoreState on resume. A static procedure's state is null.
  virtual spec::Json SaveState() const = 0;
  virtual Status RestoreState(const spec::Json& state) = 0;
};

// For procedures reading a run: the model with id `id` (null when the run has none), the
// id the loop gives the first model of the next decision batch (it numbers the models a
// batch adds in order from there), and whether a status is pending or running.
const ModelView* FindModel(const Observation& run, ModelId id);
ModelId FirstNewId(const Observation& run);

// The procedure spec.search names (grid or random today).
StatusOr<std::unique_ptr<Procedure>> MakeProcedure(const spec::ExperimentSpec& spec);

}  // namespace cerebro::search

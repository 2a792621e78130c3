// The data-parallel baseline (strategy dp), kept only to be measured against: models
// one after another; each epoch every worker trains the same model from the same state
// on its own partition, then the states (weights and optimizer moments) are averaged
// through the trainer's C API; evaluation likewise on every partition. It does its own
// bookkeeping — all partitions of one model run at once, which MOP's scheduler (rightly)
// never allows — journals its units for the record, and is not resumable.
// Not thread-safe.
#pragma once

#include <vector>

#include "cerebro/driver/run_state.h"
#include "cerebro/exec/backend.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/experiment_store.h"

namespace cerebro::driver {

struct DataParallelRun {
  const spec::ExperimentSpec& spec;
  store::ExperimentStore& store;
  exec::Backend& backend;
  store::RunTiming& timing;
  int partitions = 1;  // one per worker: worker p holds partition p
};

// Trains `models` (in the order given) and returns their outcomes, with retention
// applied to their checkpoints (run.keep_best, run.keep_failed).
StatusOr<std::vector<store::ModelOutcome>> TrainDataParallel(const DataParallelRun& run,
                                                             const std::vector<const ModelRun*>& models);

}  // namespace cerebro::driver

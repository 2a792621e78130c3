// Opening an existing run directory: its store, its resolved spec and models.json, for
// resume and replay; and planning an extension of a finished run (cerebro run --extend).
// Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/experiment_store.h"
#include "cerebro/store/journal.h"

namespace cerebro::driver {

struct OpenedRun {
  std::unique_ptr<store::ExperimentStore> store;
  spec::ExperimentSpec spec;
  spec::Json models;  // models.json as written at the start
};

// NotFound when `run_dir` is not a run directory; DataLoss naming the file when its
// spec.json or models.json does not parse; with a lock, FailedPrecondition naming the
// process that holds it (store/run_lock.h).
StatusOr<OpenedRun> OpenRun(const std::string& run_dir, FileSystem* fs,
                            store::ExperimentStore::Lock lock);

// A journal of the first release (version 1) has no model_added records: its models are
// those of models.json, added at the start by the search with `epochs` epochs each. This
// is that start as a decision; DataLoss naming `where` (models.json) when it is malformed.
StatusOr<store::ProcedureDecision> FirstReleaseStart(const spec::Json& models, int epochs,
                                                     const std::string& where);

// What extending a finished run does (driver.h's ExtendExperiment): the run's spec with
// the extension's overrides, and the one record that extends it. Grid, random and TPE:
// every completed model trains on to the new run.epochs (from its last state, optimizer
// state included; its epochs are numbered on), and the search's next models up to the
// new search.num_models join, as the search would have made them (random: its next
// draws; TPE: its next proposals). PBT (--epochs only): the procedure, restored under the
// longer spec, ranks and replaces at its next boundary, or trains the population on to it.
struct Extension {
  spec::ExperimentSpec spec;
  store::ProcedureDecision decision;  // model_extended and model_added actions, atomically
  // Completed models left as they are: their final state was dropped by run.keep_best.
  std::vector<std::string> warnings;
};

// Plans the extension of `run` (opened with its lock) by `overrides` (run.epochs,
// search.num_models, each naming its flag). InvalidArgument, one line, and nothing
// changed, when the run is not finished, its method is ASHA or Hyperband (their rungs are
// functions of max_t and the models), an override sets another field or asks for no more
// than the run has, or nothing can be extended; also when a state PBT goes on from was
// dropped by retention.
StatusOr<Extension> PlanExtension(OpenedRun& run, const spec::Overrides& overrides);

}  // namespace cerebro::driver

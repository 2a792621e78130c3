// Opening an existing run directory: its store, its resolved spec and models.json, for
// resume and replay. Thread-compatible.
#pragma once

#include <memory>
#include <string>

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

}  // namespace cerebro::driver

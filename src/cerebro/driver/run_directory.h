// Opening an existing run directory: its store, its resolved spec and models.json, for
// resume and replay. Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/experiment_store.h"

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

}  // namespace cerebro::driver

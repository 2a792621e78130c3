// RunObserver: a listener on a run's records (after Ray Tune's callbacks). Observers
// derive outputs — metrics files, summary.json, progress lines, later TensorBoard and
// reports — from the records the run loop applies; everything an observer writes can be
// rebuilt from the journal (OnStarted shows a resumed run's replayed state, from which
// an observer rewrites its files). The journal itself is not an observer.
//
// The loop calls every observer, in the order they were given, after each record is
// durable and applied: OnUnitDone for a finished unit, then OnEpochDone for an epoch it
// closed, then OnModelStatus for each model whose status changed — in journal order.
// An observer's error ends the run (its outputs live in the run directory, which is
// then unwritable). Called on the loop's thread only.
#pragma once

#include <string>

#include "cerebro/common/status.h"
#include "cerebro/driver/run_state.h"
#include "cerebro/exec/backend.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

// What an observer may look at; valid during the call.
struct RunView {
  const spec::ExperimentSpec& spec;
  const RunState& state;
  const std::string& run_dir;
  const store::RunTiming& timing;
  const exec::Backend* backend;  // null when nothing trains (a finished run resumed)
  bool resumed;                  // the run continues from a journal
  int slots;                     // units that run at once
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // The data is prepared, the workers started, and (on resume) the journal replayed.
  virtual Status OnStarted(const RunView&) { return Status::Ok(); }
  virtual Status OnUnitDone(const RunView&, const store::UnitDone&) { return Status::Ok(); }
  virtual Status OnEpochDone(const RunView&, const store::EpochRow&) { return Status::Ok(); }
  virtual Status OnModelStatus(const RunView&, ModelId) { return Status::Ok(); }
  // The loop ended (`loop` says how); `summary` is the ranked result.
  virtual Status OnFinished(const RunView&, const Status& loop, const store::Summary& summary) {
    return Status::Ok();
  }
};

}  // namespace cerebro::driver

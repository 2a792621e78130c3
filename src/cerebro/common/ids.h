// Identifiers and small value types every layer shares: model ids, the two kinds of
// unit, and a model's lifecycle. Kept here (not in sched/ or driver/) because the
// journal (store/), the procedures (search/) and the scheduler all speak them.
// Value types; thread-safe.
#pragma once

#include "cerebro/common/enum_names.h"

namespace cerebro {

// Allocated by the run (driver), never reused within a run; 0, 1, 2, ... in the order
// models are added, so a static search's ids are its configurations' positions.
using ModelId = int;
using WorkerId = int;

// A unit is one pass of one model over one partition: training or evaluation.
enum class UnitKind { kTrain = 0, kEval = 1 };

// A model's lifecycle. pending: added, no unit finished yet; running: has finished
// units and has epochs left; completed: ran its whole epoch budget; stopped: a
// procedure, the user or a budget ended it early (its metrics still rank); failed: it
// cannot go on (the reason is kept). completed/stopped/failed are final unless a
// procedure or the user extends a completed or stopped model.
enum class ModelStatus { kPending, kRunning, kCompleted, kStopped, kFailed };

// A model that may still train: pending or running.
inline bool IsLive(ModelStatus s) { return s == ModelStatus::kPending || s == ModelStatus::kRunning; }

template <>
struct EnumNames<UnitKind> {
  static constexpr NamedValue<UnitKind> kTable[] = {{UnitKind::kTrain, "train"},
                                                    {UnitKind::kEval, "eval"}};
};

template <>
struct EnumNames<ModelStatus> {
  static constexpr NamedValue<ModelStatus> kTable[] = {{ModelStatus::kPending, "pending"},
                                                       {ModelStatus::kRunning, "running"},
                                                       {ModelStatus::kCompleted, "completed"},
                                                       {ModelStatus::kStopped, "stopped"},
                                                       {ModelStatus::kFailed, "failed"}};
};

}  // namespace cerebro

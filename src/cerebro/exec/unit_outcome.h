// How a unit ended, from the trainer's return code (train/worker_api.h): the one table
// every backend uses, so a code means the same through a local worker process and a
// Ray actor, and the driver sees retryable and terminal failures apart. Pure functions;
// thread-safe.
#pragma once

#include <cstdint>

#include "cerebro/exec/backend.h"

namespace cerebro::exec {

struct UnitOutcome {
  CompletionKind kind = CompletionKind::kOk;
  FailureCause cause = FailureCause::kNone;
};

// CEREBRO_OK            -> kOk
// CEREBRO_ERR_INVALID   -> kModelFailed / kInvalidConfig (the model can never run)
// CEREBRO_ERR_MODEL     -> kModelFailed / kException
// out of memory         -> kModelFailed / kOutOfMemory
// non-finite loss       -> kModelFailed / kNonFinite
// CEREBRO_ERR_STATE     -> kRetry / kStateCorrupt (corrupted in transit; the worker is fine)
// CEREBRO_ERR_DATA      -> kWorkerLost / kPartitionMissing (the worker has no usable data)
// any other code        -> kModelFailed / kException (a trainer newer than this table:
//                          failing the model is safe, retrying might never end)
UnitOutcome ClassifyTrainerCode(int64_t code);

}  // namespace cerebro::exec

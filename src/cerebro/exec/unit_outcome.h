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

// CEREBRO_OK                -> kOk
// CEREBRO_ERR_INVALID       -> kModelFailed / kInvalidConfig (the model can never run)
// CEREBRO_ERR_MODEL         -> kModelFailed / kException
// CEREBRO_ERR_OUT_OF_MEMORY -> kModelFailed / kOutOfMemory
// CEREBRO_ERR_NON_FINITE    -> kModelFailed / kNonFinite
// CEREBRO_ERR_STATE         -> kRetry / kStateCorrupt (corrupted in transit; worker fine)
// CEREBRO_ERR_DATA          -> kWorkerLost / kPartitionMissing (no usable data there)
// any other code            -> kModelFailed / kException (a trainer newer than this
//                              table: failing the model is safe, retrying might not end;
//                              worker_api.h asks callers to read unknown codes so)
UnitOutcome ClassifyTrainerCode(int64_t code);

}  // namespace cerebro::exec

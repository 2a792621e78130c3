#include "cerebro/exec/unit_outcome.h"

#include "cerebro/train/worker_api.h"

namespace cerebro::exec {

namespace {
// train/worker_api.h is gaining CEREBRO_ERR_OUT_OF_MEMORY = 5 and CEREBRO_ERR_NON_FINITE
// = 6 (issue 9); until they land there the values are spelled here.
constexpr int64_t kOutOfMemory = 5;
constexpr int64_t kNonFinite = 6;
}  // namespace

UnitOutcome ClassifyTrainerCode(int64_t code) {
  switch (code) {
    case CEREBRO_OK: return {CompletionKind::kOk, FailureCause::kNone};
    case CEREBRO_ERR_INVALID: return {CompletionKind::kModelFailed, FailureCause::kInvalidConfig};
    case CEREBRO_ERR_MODEL: return {CompletionKind::kModelFailed, FailureCause::kException};
    case kOutOfMemory: return {CompletionKind::kModelFailed, FailureCause::kOutOfMemory};
    case kNonFinite: return {CompletionKind::kModelFailed, FailureCause::kNonFinite};
    case CEREBRO_ERR_STATE: return {CompletionKind::kRetry, FailureCause::kStateCorrupt};
    case CEREBRO_ERR_DATA: return {CompletionKind::kWorkerLost, FailureCause::kPartitionMissing};
    default: return {CompletionKind::kModelFailed, FailureCause::kException};
  }
}

}  // namespace cerebro::exec

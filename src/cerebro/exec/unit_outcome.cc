#include "cerebro/exec/unit_outcome.h"

#include "cerebro/train/worker_api.h"

namespace cerebro::exec {

UnitOutcome ClassifyTrainerCode(int64_t code) {
  using K = CompletionKind;
  using C = FailureCause;
  switch (code) {
    case CEREBRO_OK: return {K::kOk, C::kNone};
    case CEREBRO_ERR_INVALID: return {K::kModelFailed, C::kInvalidConfig};
    case CEREBRO_ERR_MODEL: return {K::kModelFailed, C::kException};
    case CEREBRO_ERR_OUT_OF_MEMORY: return {K::kModelFailed, C::kOutOfMemory};
    case CEREBRO_ERR_NON_FINITE: return {K::kModelFailed, C::kNonFinite};
    case CEREBRO_ERR_STATE: return {K::kRetry, C::kStateCorrupt};
    case CEREBRO_ERR_DATA: return {K::kWorkerLost, C::kPartitionMissing};
    case CEREBRO_ERR_STATE_FILE: return {K::kStorageFailed, C::kStateFile};
    default: return {K::kModelFailed, C::kException};
  }
}

}  // namespace cerebro::exec

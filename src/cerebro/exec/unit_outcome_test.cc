#include "cerebro/exec/unit_outcome.h"

#include <gtest/gtest.h>

#include "cerebro/train/worker_api.h"

namespace cerebro::exec {
namespace {

void ExpectClass(int64_t code, CompletionKind kind, FailureCause cause) {
  UnitOutcome o = ClassifyTrainerCode(code);
  EXPECT_EQ(o.kind, kind) << "code " << code;
  EXPECT_EQ(o.cause, cause) << "code " << code;
}

TEST(UnitOutcomeTest, EachTrainerCodeHasItsFailureClass) {
  ExpectClass(CEREBRO_OK, CompletionKind::kOk, FailureCause::kNone);
  ExpectClass(CEREBRO_ERR_INVALID, CompletionKind::kModelFailed, FailureCause::kInvalidConfig);
  ExpectClass(CEREBRO_ERR_MODEL, CompletionKind::kModelFailed, FailureCause::kException);
  ExpectClass(CEREBRO_ERR_STATE, CompletionKind::kRetry, FailureCause::kStateCorrupt);
  ExpectClass(CEREBRO_ERR_DATA, CompletionKind::kWorkerLost, FailureCause::kPartitionMissing);
  ExpectClass(CEREBRO_ERR_OUT_OF_MEMORY, CompletionKind::kModelFailed, FailureCause::kOutOfMemory);
  ExpectClass(CEREBRO_ERR_NON_FINITE, CompletionKind::kModelFailed, FailureCause::kNonFinite);
}

TEST(UnitOutcomeTest, AnUnknownCodeFailsTheModelRatherThanRetryingForever) {
  ExpectClass(99, CompletionKind::kModelFailed, FailureCause::kException);
  ExpectClass(-1, CompletionKind::kModelFailed, FailureCause::kException);
}

}  // namespace
}  // namespace cerebro::exec

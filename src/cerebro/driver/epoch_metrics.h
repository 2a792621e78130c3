// EpochAccumulator: one model's units of one epoch, summed into its EpochRow. Units
// report sums (loss x examples, correct, examples), and the row divides the sums over
// partitions taken in partition order by the examples, so averages are weighted by
// sample count and do not depend on which unit finished first (bitwise reproducible).
// A value type.
#pragma once

#include <cstdint>
#include <vector>

#include "cerebro/common/ids.h"
#include "cerebro/store/epoch_row.h"

namespace cerebro::driver {

class EpochAccumulator {
 public:
  explicit EpochAccumulator(int partitions) : train_(partitions), eval_(partitions) {}

  // One finished unit. Training units are also numbered in the order they are added:
  // the epoch's realized partition order.
  void Add(UnitKind kind, int partition, WorkerId worker, double loss_sum, double correct,
           int64_t examples, double compute_seconds);
  // The row of (model, 0-based epoch) from everything added.
  store::EpochRow Close(ModelId model, int epoch) const;
  int train_units() const { return next_seq_; }  // training units added so far

 private:
  struct Part {
    double loss_sum = 0, correct = 0, compute = 0;
    int64_t n = 0;
    WorkerId worker = -1;
    int seq = -1;  // position in the realized training order
  };
  std::vector<Part> train_, eval_;
  int next_seq_ = 0;
};

}  // namespace cerebro::driver

// EpochRow: one model's metrics after one epoch, as metrics.csv/metrics.jsonl and
// summary.json's histories hold them. A value type.
#pragma once

#include <cstdint>
#include <vector>

#include "cerebro/spec/spec.h"

namespace cerebro::store {

using Json = spec::Json;

struct EpochRow {
  int model_id = 0;
  int epoch = 0;  // 1-based in the files: "after epoch 1"
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  int64_t train_examples = 0, val_examples = 0;
  double seconds = 0;  // summed unit compute time of this model in this epoch
  std::vector<int> train_order;  // realized partition order of the training units
  std::vector<int> workers;      // worker that ran each of those units
};

}  // namespace cerebro::store

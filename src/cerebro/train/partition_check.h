// The checks a dataset passes before a Trainer holds it as a partition: buffers
// consistent with the feature shape and label count, finite byte-feature values, labels
// within [0, num_classes). Pure function; thread-safe. Torch-free.
#pragma once

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::train {

// OK, or DataLoss("<name> partition: <what is wrong>"); `name` is "train" or "val".
Status CheckPartitionData(const char* name, const data::Dataset& dataset);

}  // namespace cerebro::train

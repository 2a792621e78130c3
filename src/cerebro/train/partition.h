// A partition as a Trainer holds it for the whole run: the dataset, torch views over its
// features (its vectors, or the read-only mapping of MapPartition; never copied again), and the float32 batches a pass reads from it; byte
// features are decoded per batch through a 256-entry table. Immutable once made; read
// by one thread at a time (as the Trainer that owns it).
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <memory>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::train {

class Partition {
 public:
  // Checks `dataset` (CheckPartitionData: DataLoss naming `name`, "train" or "val") and
  // takes it. Internal if torch refuses the views.
  static StatusOr<std::unique_ptr<Partition>> Make(const char* name, data::Dataset dataset);

  // Only Make can name a Key, so only Make constructs one (make_unique needs the
  // constructor to be public).
  class Key {
    Key() = default;
    friend class Partition;
  };
  explicit Partition(Key) {}
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  const data::Dataset& dataset() const { return dataset_; }
  int64_t size() const { return dataset_.num_examples(); }
  // int64 [n] (classification) or float32 [n] (regression).
  const torch::Tensor& labels() const { return y_; }

  // Examples idx[0..count) as a float32 batch [count, *feature_shape]: one batch-sized
  // copy; the partition itself is never copied.
  torch::Tensor Rows(const int64_t* idx, int64_t count) const;
  // Examples [lo, hi) as a float32 batch (a view when the features are float32).
  torch::Tensor Range(int64_t lo, int64_t hi) const;

 private:
  torch::Tensor NewBatch(int64_t count) const;
  void Decode(const uint8_t* src, int64_t count, float* dst) const;

  // The Partition lives behind a unique_ptr, the vectors are never resized and the
  // mapping lives as long as dataset_, so the views stay valid.
  data::Dataset dataset_;
  // float32 [n, *feature_shape] aliasing dataset_.float_data(), or uint8 aliasing
  // dataset_.byte_data() (decoded per batch through byte_table_).
  torch::Tensor x_;
  torch::Tensor y_;
  std::array<float, 256> byte_table_{};
};

}  // namespace cerebro::train

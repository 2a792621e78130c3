#include "cerebro/train/partition.h"

#include <string>
#include <utility>
#include <vector>

#include "cerebro/train/partition_check.h"
#include "cerebro/train/torch_error.h"

namespace cerebro::train {

StatusOr<std::unique_ptr<Partition>> Partition::Make(const char* name, data::Dataset dataset) {
  RETURN_IF_ERROR(CheckPartitionData(name, dataset));
  auto part = std::make_unique<Partition>(Key());
  part->dataset_ = std::move(dataset);
  data::Dataset& ds = part->dataset_;
  const int64_t n = ds.num_examples();
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), ds.feature_shape.begin(), ds.feature_shape.end());
  const bool bytes = ds.encoding == data::FeatureEncoding::kUint8;
  try {
    // from_blob: views over the vectors or the read-only mapping (MapPartition), no copy.
    // Units only read them (index_select and slice), never write: a write into a mapped
    // partition would fault, not corrupt it.
    void* x = const_cast<void*>(bytes ? static_cast<const void*>(ds.byte_data())
                                      : static_cast<const void*>(ds.float_data()));
    part->x_ = torch::from_blob(x, shape, bytes ? torch::kByte : torch::kFloat);
    if (bytes) part->byte_table_ = data::ByteFeatureTable(ds.byte_feature_scale);
    part->y_ = ds.task == data::Task::kClassification
                   ? torch::from_blob(ds.int_labels.data(), {n}, torch::kLong)
                   : torch::from_blob(ds.float_labels.data(), {n}, torch::kFloat);
  } catch (const c10::Error& e) {
    return Internal(std::string(name) + " partition: " + TorchMessage(e));
  }
  return part;
}

torch::Tensor Partition::Rows(const int64_t* idx, int64_t count) const {
  if (dataset_.encoding == data::FeatureEncoding::kFloat32) {
    // from_blob only reads idx here; index_select does not keep it.
    torch::Tensor idx_t = torch::from_blob(const_cast<int64_t*>(idx), {count}, torch::kLong);
    return x_.index_select(0, idx_t);
  }
  torch::Tensor out = NewBatch(count);
  const int64_t size = dataset_.example_size();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < count; ++i) {
    Decode(dataset_.byte_data() + idx[i] * size, size, dst + i * size);
  }
  return out;
}

torch::Tensor Partition::Range(int64_t lo, int64_t hi) const {
  if (dataset_.encoding == data::FeatureEncoding::kFloat32) return x_.slice(0, lo, hi);
  torch::Tensor out = NewBatch(hi - lo);
  const int64_t size = dataset_.example_size();
  Decode(dataset_.byte_data() + lo * size, (hi - lo) * size, out.data_ptr<float>());
  return out;
}

torch::Tensor Partition::NewBatch(int64_t count) const {
  std::vector<int64_t> shape = {count};
  shape.insert(shape.end(), dataset_.feature_shape.begin(), dataset_.feature_shape.end());
  return torch::empty(shape, torch::kFloat);
}

void Partition::Decode(const uint8_t* src, int64_t count, float* dst) const {
  for (int64_t j = 0; j < count; ++j) dst[j] = byte_table_[src[j]];
}

}  // namespace cerebro::train

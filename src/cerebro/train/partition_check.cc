#include "cerebro/train/partition_check.h"

#include <cstdint>
#include <string>

namespace cerebro::train {

Status CheckPartitionData(const char* name, const data::Dataset& dataset) {
  auto fail = [name](const std::string& what) {
    return DataLoss(std::string(name) + " partition: " + what);
  };
  int64_t example_size = 1;
  for (int64_t d : dataset.feature_shape) {
    if (d < 1) return fail("feature_shape has a non-positive dimension");
    example_size *= d;
  }
  if (dataset.feature_shape.empty()) return fail("empty feature_shape");
  const bool classification = dataset.task == data::Task::kClassification;
  const int64_t n = classification ? static_cast<int64_t>(dataset.int_labels.size())
                                   : static_cast<int64_t>(dataset.float_labels.size());
  const bool bytes = dataset.encoding == data::FeatureEncoding::kUint8;
  if (dataset.num_feature_values() != n * example_size ||
      !(bytes ? dataset.features.empty() : dataset.byte_features.empty())) {
    return fail("features hold " + std::to_string(dataset.num_feature_values()) +
                " values, expected " + std::to_string(n) + " x " + std::to_string(example_size));
  }
  if (bytes && !data::ByteFeatureScaleIsFinite(dataset.byte_feature_scale)) {
    return fail("byte_feature_scale makes features non-finite");
  }
  if (n != dataset.num_examples()) return fail("label count disagrees with num_examples");
  if (!classification) return Status::Ok();
  if (dataset.num_classes < 1) return fail("num_classes must be >= 1");
  for (int64_t label : dataset.int_labels) {
    if (label < 0 || label >= dataset.num_classes) {
      return fail("label " + std::to_string(label) + " outside [0, " +
                  std::to_string(dataset.num_classes) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace cerebro::train

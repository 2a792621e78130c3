// Fuzz target: the LibSVM reader through its in-memory entry point. Bytes 0..1 pick the
// options (task, num_features, feature scale); the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/data_internal.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  if (size < 2) return 0;
  static const int64_t kNumFeatures[] = {0, 1, 3, 10, 1000, 0, 0, 1000000};
  data::SourceSpec spec;
  spec.format = "libsvm";
  spec.task = (data[0] & 1) ? data::Task::kRegression : data::Task::kClassification;
  spec.libsvm_num_features = kNumFeatures[(data[0] >> 1) & 7];
  spec.feature_scale = fuzz::PickScale(data[1]);
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  auto d = data::internal::ParseLibSvmText("fuzz.libsvm", text, spec);
  if (!d.ok()) {
    FUZZ_CHECK(!d.status().message().empty());
    return 0;
  }
  fuzz::CheckDataset(*d);
  FUZZ_CHECK(d->feature_shape.size() == 1);
  if (spec.libsvm_num_features > 0) FUZZ_CHECK(d->feature_shape[0] == spec.libsvm_num_features);
  return 0;
}

// Fuzz target: ReadStoreMeta on an arbitrary meta.json (written to a scratch store
// directory first). A meta that reads must satisfy what LoadPartition relies on.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/partition_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  (void)fuzz::ScratchDir::Write("meta.json", data, size);
  auto meta = data::ReadStoreMeta(fuzz::ScratchDir::Get());
  if (!meta.ok()) {
    FUZZ_CHECK(!meta.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(!meta->feature_shape.empty());
  int64_t example_size = 1;
  for (int64_t d : meta->feature_shape) {
    FUZZ_CHECK(d > 0);
    FUZZ_CHECK(!__builtin_mul_overflow(example_size, d, &example_size));
  }
  FUZZ_CHECK(!meta->train.empty());
  if (meta->task == data::Task::kClassification) FUZZ_CHECK(meta->num_classes >= 1);
  for (const auto* parts : {&meta->train, &meta->val}) {
    for (const auto& p : *parts) {
      FUZZ_CHECK(p.num_examples >= 0);
      FUZZ_CHECK(!p.x_file.empty() && p.x_file.find('/') == std::string::npos);
      FUZZ_CHECK(!p.y_file.empty() && p.y_file.find('/') == std::string::npos);
    }
  }
  return 0;
}

// Fuzz target: the CSV reader through its in-memory entry point. Bytes 0..1 pick the
// options (header, task, delimiter, label column, feature scale); the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/data_internal.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  if (size < 2) return 0;
  static const char kDelims[] = {',', ';', '\t', ' ', '|', ':', '\n', '\0'};
  static const char* kLabelColumns[] = {"", "0", "1", "2", "label", "y", "999999999", "\"y\""};
  data::SourceSpec spec;
  spec.format = "csv";
  spec.csv_header = data[0] & 1;
  spec.task = (data[0] & 2) ? data::Task::kRegression : data::Task::kClassification;
  spec.csv_delimiter = kDelims[(data[0] >> 2) & 7];
  spec.csv_label_column = kLabelColumns[(data[0] >> 5) & 7];
  spec.feature_scale = fuzz::PickScale(data[1]);
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  auto d = data::internal::ParseCsvText("fuzz.csv", text, spec);
  if (!d.ok()) {
    FUZZ_CHECK(!d.status().message().empty());
    return 0;
  }
  fuzz::CheckDataset(*d);
  FUZZ_CHECK(d->feature_shape.size() == 1);
  return 0;
}

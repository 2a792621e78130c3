// ReadSource: dispatch on the source format and attach the task.
#include <algorithm>

#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {

StatusOr<Dataset> ReadSource(const SourceSpec& spec, bool validation) {
  const std::string& path = validation ? spec.val_path : spec.train_path;
  const std::string& labels = validation ? spec.val_labels_path : spec.train_labels_path;
  const char* which = validation ? "val_path" : "train_path";
  if (path.empty()) return InvalidArgument(std::string("data source: ") + which + " is empty");
  if (spec.format == "idx") {
    ASSIGN_OR_RETURN(Dataset d, ReadIdx(path, labels, spec.feature_scale));
    internal::ApplyTask(spec.task, &d);
    // Checked here, not in ReadIdx: IDX labels are read before the task is known, and a
    // regression target may be any byte value.
    if (d.task == Task::kClassification) {
      const auto largest = std::max_element(d.int_labels.begin(), d.int_labels.end());
      RETURN_IF_ERROR(internal::CheckDenseLabels(
          d, labels + ": item " + std::to_string(largest - d.int_labels.begin())));
    }
    return d;
  }
  if (spec.format == "csv") return ReadCsv(path, spec);
  if (spec.format == "libsvm") return ReadLibSvm(path, spec);
  return InvalidArgument("data source: unknown format '" + spec.format +
                         "' (expected idx, csv or libsvm)");
}

}  // namespace cerebro::data

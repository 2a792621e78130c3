// The ranked table of a run's models: what `cerebro run` prints at its end and
// `cerebro report` prints from summary.json. Pure; thread-safe.
#pragma once

#include <string>

#include "cerebro/store/summary.h"

namespace cerebro::cli {

// One header line, then one line per model in summary.models' order (ranked): rank, id,
// status, the ranking metric, val_loss and train_acc of its last epoch, its params.
// Completed and stopped models show their last epoch's metrics (a stopped one adds its
// reason in parentheses); the others show "-" and their failure in parentheses.
// A run with two or more objectives shows, after status, a "pareto" column ("*" for the
// models of summary.pareto_front) and one column per objective in place of the metric's.
std::string FormatRankedTable(const store::Summary& summary);

// An objective's column label: val_accuracy and val_loss for the validation metrics (as
// the table always called them), the metric's own name otherwise.
std::string MetricLabel(const std::string& metric);
// A metric's value as the table and the report print it: parameter counts whole, the rest
// to four decimals (seconds_per_example to four significant digits).
std::string FormatMetric(const std::string& metric, double value);

}  // namespace cerebro::cli

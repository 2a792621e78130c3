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
std::string FormatRankedTable(const store::Summary& summary);

}  // namespace cerebro::cli

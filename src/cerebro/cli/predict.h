// `cerebro predict RUN_DIR --data FILE [--labels FILE] [--model ID] [--out FILE] [--quiet]`:
// a finished model of a run (the best by default, as export chooses it: cli/export.h) on
// a data file in the run's own format (its data section: idx, csv or libsvm, with the
// same feature_scale; an IDX images file takes its labels file with --labels). Writes CSV
// (row, label, predicted class, one probability per class; regression: row, label,
// prediction) to --out, atomically, or to stdout, and prints the accuracy (regression:
// the mean squared error): on stdout with --out, else on stderr. A file whose examples do
// not have the model's width is one line naming the file and the expected width, exit 2,
// nothing written. A progress line while it runs, on a terminal only. Stateless;
// thread-compatible.
#pragma once

#include "cerebro/cli/flags.h"

namespace cerebro::cli {

int CmdPredict(const CommandLine& line);

}  // namespace cerebro::cli

// `cerebro ctl RUN_DIR VERB ...`: steers a running experiment through its control socket
// (driver/control_server.h). Builds the command's JSON from the arguments, sends it, and
// prints the run's one-line answer:
//   ctl RUN stop MODEL                 stop MODEL at its next epoch boundary
//   ctl RUN extend MODEL EPOCHS        give MODEL EPOCHS epochs in all
//   ctl RUN add 'PARAMS' [--epochs E]  add a model with these params (a JSON object)
//   ctl RUN clone MODEL [k=v ...] [--set k=v] [--epochs E]
//                                      a model warm-started from MODEL's latest state
// Values in k=v are JSON when they parse as JSON (1e-4, [64, 32], true), else strings.
// Exit 0 when the run journaled it, 2 when it refused it (bad input; nothing changed),
// 1 when no run serves the directory.
#pragma once

#include "cerebro/cli/flags.h"

namespace cerebro::cli {

int CmdCtl(const CommandLine& line);

}  // namespace cerebro::cli

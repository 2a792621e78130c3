// The cerebro commands (run, configs, prepare, resume, replay, report). Each prints its
// result on stdout and any failure as one line on stderr, and returns the exit status:
//   0 success; 1 the run failed after it started (or every model failed);
//   2 bad usage or bad input (spec, data, flags, a malformed run directory).
// Bad input to run or prepare leaves no output directory behind. Called from main().
#pragma once

#include "cerebro/cli/flags.h"
#include "cerebro/common/status.h"

namespace cerebro::cli {

int RunCommand(const CommandLine& line);

// Prints "cerebro: error: <message>" on stderr; returns the exit status for its code.
int Fail(const Status& st);

}  // namespace cerebro::cli

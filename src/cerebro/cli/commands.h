// The cerebro commands (run, configs, prepare, resume, replay, report). Each prints its
// result on stdout and any failure as one line on stderr, and returns the exit status:
//   0 success; 1 the run failed after it started (or every model failed);
//   2 bad usage or bad input (spec, data, flags, a malformed run directory).
// Bad input to run or prepare leaves no output directory behind; a run or resume that
// ends early after its directory appeared adds a line saying how to continue it.
// Called from main().
#pragma once

#include "cerebro/cli/flags.h"

namespace cerebro::cli {

// Runs the command; failures are printed with Fail (outcome.h). A run or resume that
// ends early prints how to continue it (outcome.h's FailRun, signals.h).
int RunCommand(const CommandLine& line);

}  // namespace cerebro::cli

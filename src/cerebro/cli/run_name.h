// The run directory `cerebro run` writes when no --out is given. Pure; thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "cerebro/spec/spec.h"

namespace cerebro::cli {

// runs/<name>-<local time to the millisecond>-<pid in hex>, e.g.
// runs/small-20261201-083012.482-4f1c; <name> is the spec's name, else its file's base
// name. Unique without the user's help: processes alive at once have different pids, and
// a pid is reused only by a later process (a later millisecond).
std::string DefaultRunDir(const spec::ExperimentSpec& spec,
                          std::chrono::system_clock::time_point now, long pid);

}  // namespace cerebro::cli

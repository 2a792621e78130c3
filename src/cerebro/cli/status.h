// `cerebro status RUN_DIR [--json]`: where a run stands, while it is live (from another
// terminal) or after: progress, epochs, the best model so far, what each worker ran last,
// failures and an ETA, from driver/run_status.h's read-only view (never locks, never
// writes). A compact table on stdout, or with --json one JSON object for machines.
// Exit 0, or 2 with one line when RUN_DIR is not a run directory or its journal is
// malformed. Stateless; thread-compatible.
#pragma once

#include <string>

#include "cerebro/cli/flags.h"
#include "cerebro/driver/run_status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::cli {

int CmdStatus(const CommandLine& line);

// The table and the JSON form of `s`; `now` (Unix seconds) dates "finished 3 s ago".
std::string FormatRunStatus(const driver::RunStatus& s, double now);
spec::Json RunStatusToJson(const driver::RunStatus& s);

}  // namespace cerebro::cli

// How a command's end reaches the user: the exit status for a Status, the one error
// line, and the hint that `cerebro resume` continues a run that ended early.
// Stateless; thread-safe (each call writes whole lines to stderr).
#pragma once

#include <string>

#include "cerebro/common/status.h"

namespace cerebro::cli {

// 2 for bad usage or bad input (invalid argument, not found, already exists, data loss),
// 1 for anything else that failed, 0 for OK.
int ExitCodeFor(const Status& st);

// Prints "cerebro: error: <message>" on stderr; returns ExitCodeFor(st).
int Fail(const Status& st);

// "cerebro: continue it with: cerebro resume RUN_DIR".
std::string ResumeHint(const std::string& run_dir);

// Whether `cerebro resume` can continue a run that ended with `st` after its directory
// appeared: yes when the machinery failed (a worker, the disk, a signal); no when the
// input is at fault (ExitCodeFor is 2: the journal does not fit, a state is corrupt) or
// the directory cannot be continued as it is (FailedPrecondition: another process holds
// it, a dp baseline).
bool ResumeContinues(const Status& st);

// For a run or resume that returned `st`: Fail(st), then the resume hint on stderr when
// `run_dir` is not "" (the caller's: a directory this command wrote), exists, and
// ResumeContinues(st). Returns ExitCodeFor(st).
int FailRun(const Status& st, const std::string& run_dir);

}  // namespace cerebro::cli

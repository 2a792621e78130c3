// The per-process settings of a worker that runs units: denormal flushing, thread
// pools, and glibc's allocator thresholds. Process-wide; call before the first unit
// (a second call, e.g. with another thread count, is allowed).
#pragma once

#include "cerebro/common/status.h"

namespace cerebro::train {

// Flush-to-zero for denormals, torch's intra-op threads (and OpenMP's and OpenBLAS's,
// which torch shares) set to `threads`, the first time it is called in a process
// inter-op threads to 1, and glibc's mmap/trim thresholds raised so tensor buffers are
// reused rather than re-faulted every step. Fails with InvalidArgument if threads < 1,
// Internal if torch refuses.
Status ConfigureProcess(int threads);

}  // namespace cerebro::train

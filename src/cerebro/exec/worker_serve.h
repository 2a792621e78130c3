// The local worker's body (worker_serve.cc), linked into cerebro-worker and into the
// driver, whose fork server (fork_server.h) runs it in forked workers. Links the trainer.
#pragma once

#include "cerebro/common/status.h"

namespace cerebro::exec {

// cerebro-worker's command line (--fd N [--store DIR] [--train-partition P]
// [--val-partition P] [--threads T]) and its serving loop; returns the exit status
// (2: bad command line).
int WorkerMain(int argc, char** argv);

// Applies CEREBRO_WORKER_RLIMIT_AS_BYTES (see worker_main.cc) when set; an error names
// the variable. A forked worker applies it after the fork, before loading its data.
Status ApplyWorkerAddressLimit();

// Starts this process's fork server with WorkerMain as the workers' entry, unless
// OpenBLAS chose weak kernels at load (workers are then exec'd with OPENBLAS_CORETYPE) or
// the process already has threads. Call from main before anything starts a thread; an
// error says why there is no server, and workers are then exec'd as before.
Status StartWorkerForkServer();

}  // namespace cerebro::exec

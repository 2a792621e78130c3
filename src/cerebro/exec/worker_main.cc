// cerebro-worker: one local worker process, exec'd by the driver when it has no fork
// server (fork_server.h) or runs an explicit worker binary. It serves as worker_serve.h
// says.
// CEREBRO_WORKER_RLIMIT_AS_BYTES=N (optional, for tests): the worker bounds its own
// address space to N bytes (setrlimit RLIMIT_AS) before loading anything, so that an
// oversized allocation is refused the same way on every host instead of depending on
// the host's overcommit policy (or waking the OOM killer).
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "cerebro/exec/worker_serve.h"
#include "cerebro/train/worker_api.h"

int main(int argc, char** argv) {
  // First, so that the limit covers everything loaded after it (and survives the re-exec).
  if (cerebro::Status st = cerebro::exec::ApplyWorkerAddressLimit(); !st.ok()) {
    std::fprintf(stderr, "cerebro-worker: %s\n", st.message().c_str());
    return 2;
  }
  // OpenBLAS chooses its kernels when it loads and falls back to slow generic ones on
  // CPUs newer than its release (measured 3x slower here). It reads OPENBLAS_CORETYPE
  // only at load time, so when it guessed wrong we re-execute ourselves with the right
  // value, once (the variable is then set). A user's own OPENBLAS_CORETYPE is respected.
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    char core[64] = {0};
    if (cerebro_blas_suggested_coretype(core, sizeof(core)) == 1) {
      ::setenv("OPENBLAS_CORETYPE", core, 1);
      ::execv("/proc/self/exe", argv);  // on failure, carry on with the slow kernels
    }
  }
  return cerebro::exec::WorkerMain(argc, argv);
}

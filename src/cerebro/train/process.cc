#include "cerebro/train/process.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>

#include <mutex>

#include "cerebro/train/torch_error.h"

namespace cerebro::train {
namespace {

// Keep tensor buffers in the heap instead of fresh mmap()s. glibc serves blocks above
// its mmap threshold (128 KB, raised only after a larger block is freed) with mmap and
// unmaps them on free, so every training step faulted its activations in again: on the
// small CNN grid a worker took 4.9M minor faults and its training units ran ~33%
// slower until an evaluation's larger blocks happened to raise the threshold. 32 MB is
// the ceiling glibc's own adjustment would reach; trimming at twice it is glibc's rule.
void KeepBuffersInHeap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

// The pthread flavour of OpenBLAS has its own pool; set it too when present.
void SetOpenBlasThreads(int threads) {
  using SetThreadsFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(threads);
  }
}

}  // namespace

Status ConfigureProcess(int threads) {
  if (threads < 1) return InvalidArgument("intra_op_threads must be >= 1");
  try {
    // Flush denormals to zero. Adam with weight decay drives many weights and moments
    // into the denormal range late in training, and x86 handles denormals in microcode:
    // measured here, units of such a model slowed from 2.7 s to 15 s by epoch 5. Set
    // before any pool starts, so OpenMP/BLAS threads inherit the mode.
    at::globalContext().setFlushDenormal(true);
    // Also sets OpenMP's thread count, which the openmp flavour of OpenBLAS follows.
    at::set_num_threads(threads);
    static std::once_flag interop_once;
    std::call_once(interop_once, [] {
      // Torch allows this only before its inter-op pool starts; if something in the
      // process already used it, the pool keeps its size, which is harmless here (units
      // run no inter-op parallel work).
      try {
        at::set_num_interop_threads(1);
      } catch (const c10::Error&) {
      }
    });
  } catch (const c10::Error& e) {
    return Internal("setting torch threads: " + TorchMessage(e));
  }
  KeepBuffersInHeap();
  SetOpenBlasThreads(threads);
  return Status::Ok();
}

}  // namespace cerebro::train

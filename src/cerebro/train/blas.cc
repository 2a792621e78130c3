#include "cerebro/train/blas.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <cctype>

namespace cerebro::train {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// OpenBLAS picks its kernels from the CPU model at load time; a CPU newer than the
// OpenBLAS release (e.g. Sapphire Rapids with Debian's 0.3.21) falls back to the generic
// "Prescott" SSE3 kernels. Measured here (784-1000-500-10 MLP, Adam, batch 128, one
// thread): Prescott 3,300 samples/s, Haswell 5,800, SkylakeX 9,750. It can only be
// fixed before the library loads, i.e. in the worker's environment.
// The OpenBLAS kernel set this CPU deserves when OpenBLAS fell back to weaker ones
// ("" when its own choice is fine or OpenBLAS is not loaded), plus the name it chose.
std::string SuggestedCoreType(std::string* chosen) {
#if defined(__x86_64__)
  using CoreNameFn = char* (*)();
  auto corename = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr || corename() == nullptr) return "";
  const std::string core = corename();
  if (chosen != nullptr) *chosen = core;
  const std::string lower = Lower(core);
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool core_avx512 =
      lower == "skylakex" || lower == "cooperlake" || lower == "sapphirerapids";
  const bool core_avx2 = core_avx512 || lower == "haswell" || lower == "zen";
  if (avx512 && !core_avx512) return "SkylakeX";
  if (avx2 && !core_avx2) return "Haswell";
#endif
  return "";
}

std::string OpenBlasKernelWarning() {
  std::string core;
  std::string suggested = SuggestedCoreType(&core);
  if (suggested.empty()) return "";
  return "OpenBLAS runs its '" + core +
         "' kernels on this CPU (it does not recognise the "
         "model), which makes dense layers 2-3x slower; start workers with OPENBLAS_CORETYPE=" +
         suggested;
}

}  // namespace

std::string SuggestedOpenBlasCoreType() { return SuggestedCoreType(nullptr); }

std::string BlasWarning() {
  // Which shared object provides sgemm_ for this process (the one LibTorch's calls bind
  // to)? On Debian it is whichever libblas.so.3 the alternatives system points at.
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  char resolved[PATH_MAX];
  if (realpath(info.dli_fname, resolved) != nullptr) path = resolved;
  if (path.find("openblas") != std::string::npos) return OpenBlasKernelWarning();
  for (const char* fast : {"blis", "mkl", "atlas", "flexiblas"}) {
    if (path.find(fast) != std::string::npos) return "";
  }
  if (path.find("libblas") == std::string::npos) return "";  // bundled or unknown: trust it
  return "LibTorch is using the reference BLAS (" + path +
         "), which makes dense layers ~15x slower; install OpenBLAS (apt-get install "
         "libopenblas0-openmp) or select it with update-alternatives --config "
         "libblas.so.3-x86_64-linux-gnu";
}

}  // namespace cerebro::train

// Which BLAS LibTorch's GEMMs run on, and whether it is the right one for this CPU: the
// reference BLAS or OpenBLAS on generic kernels makes dense layers several times slower,
// and the fix lies outside the process (a package, or OPENBLAS_CORETYPE in the worker's
// environment). Reads the process's loaded libraries; thread-safe. Torch-free.
#pragma once

#include <string>

namespace cerebro::train {

// Empty when the BLAS that LibTorch resolved is an optimised one (OpenBLAS, BLIS, MKL)
// running kernels that fit the CPU, or cannot be identified. Otherwise one line saying
// what to fix: the reference BLAS (GEMM-bound models ~15x slower), or OpenBLAS running
// generic kernels because it does not recognise the CPU (2-3x slower; fixed by
// OPENBLAS_CORETYPE in the worker's environment, which must be set before the process
// starts).
std::string BlasWarning();

// When OpenBLAS did not recognise this CPU and fell back to generic kernels, the
// OPENBLAS_CORETYPE value that would select the right ones ("SkylakeX", "Haswell");
// otherwise "". Only takes effect in a process started with it in the environment.
std::string SuggestedOpenBlasCoreType();

}  // namespace cerebro::train

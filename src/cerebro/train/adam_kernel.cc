#include "cerebro/train/adam_kernel.h"

#include <cmath>

namespace cerebro::train {
namespace {

// The operations of LibTorch's CPU kernels (its AVX2 / AVX-512 ones), in their order and
// with their roundings: add with an alpha (the weight decay, the first moment) is one
// fused multiply-add there (Vectorized::fmadd), addcmul's self + value * t1 * t2 is
// value * t1, then one fused multiply-add, addcdiv computes value * t1 / t2. train_test
// checks the bits against LibTorch's Adam and AdamW. kDecay and kDecoupled are template
// arguments so that each loop is branch-free; always inlined, so that each copy below
// compiles the loops for its instruction set.
template <bool kDecay, bool kDecoupled>
__attribute__((always_inline)) inline void Update(float* __restrict param,
                                                  const float* __restrict grad,
                                                  float* __restrict exp_avg,
                                                  float* __restrict exp_avg_sq, int64_t n,
                                                  const AdamScalars s) {
  for (int64_t i = 0; i < n; ++i) {
    const float p = kDecoupled ? param[i] * s.param_scale : param[i];
    const float g = kDecay ? std::fma(p, s.weight_decay, grad[i]) : grad[i];
    const float m = std::fma(g, s.one_minus_beta1, exp_avg[i] * s.beta1);
    const float v = std::fma(s.one_minus_beta2 * g, g, exp_avg_sq[i] * s.beta2);
    const float denom = std::sqrt(v) / s.sqrt_bias_correction2 + s.eps;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = p + s.neg_step_size * m / denom;
  }
}

__attribute__((always_inline)) inline void UpdateAll(float* param, const float* grad,
                                                     float* exp_avg, float* exp_avg_sq,
                                                     int64_t n, const AdamScalars& scalars) {
  const AdamScalars s = scalars;  // a local copy: the loop reads no memory it writes
  if (s.decoupled) {
    Update<false, true>(param, grad, exp_avg, exp_avg_sq, n, s);
  } else if (s.weight_decay != 0) {
    Update<true, false>(param, grad, exp_avg, exp_avg_sq, n, s);
  } else {
    Update<false, false>(param, grad, exp_avg, exp_avg_sq, n, s);
  }
}

// One copy of the loops per instruction set; the best the CPU has is picked once. With
// contraction off (CMakeLists.txt) and the fused multiply-adds explicit, the copies
// differ in speed only (the baseline's std::fma is libm's: slower, the same bits). Not
// GCC's target_clones: its "arch=" clones test for one CPU model, and a feature clone
// names one feature (avx2 without fma would call libm's fma in the loop).
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void UpdateAvx512(
    float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
    const AdamScalars& s) {
  UpdateAll(param, grad, exp_avg, exp_avg_sq, n, s);
}

__attribute__((target("avx2,fma"))) void UpdateAvx2(float* param, const float* grad,
                                                    float* exp_avg, float* exp_avg_sq,
                                                    int64_t n, const AdamScalars& s) {
  UpdateAll(param, grad, exp_avg, exp_avg_sq, n, s);
}

void UpdateBaseline(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                    int64_t n, const AdamScalars& s) {
  UpdateAll(param, grad, exp_avg, exp_avg_sq, n, s);
}

using UpdateFn = void (*)(float*, const float*, float*, float*, int64_t, const AdamScalars&);

// The loops for `isa`, or null when this CPU does not have it.
UpdateFn UpdateFor(AdamIsa isa) {
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  const bool avx512 =
      fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = fma && __builtin_cpu_supports("avx2");
  switch (isa) {
    case AdamIsa::kBest:
      return avx512 ? &UpdateAvx512 : avx2 ? &UpdateAvx2 : &UpdateBaseline;
    case AdamIsa::kAvx512:
      return avx512 ? &UpdateAvx512 : nullptr;
    case AdamIsa::kAvx2:
      return avx2 ? &UpdateAvx2 : nullptr;
    case AdamIsa::kBaseline:
      return &UpdateBaseline;
  }
  return nullptr;
}

}  // namespace

void AdamUpdate(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamScalars& s) {
  static const UpdateFn update = UpdateFor(AdamIsa::kBest);
  update(param, grad, exp_avg, exp_avg_sq, n, s);
}

bool AdamUpdateOn(AdamIsa isa, float* param, const float* grad, float* exp_avg,
                  float* exp_avg_sq, int64_t n, const AdamScalars& s) {
  const UpdateFn update = UpdateFor(isa);
  if (update == nullptr) return false;
  update(param, grad, exp_avg, exp_avg_sq, n, s);
  return true;
}

}  // namespace cerebro::train

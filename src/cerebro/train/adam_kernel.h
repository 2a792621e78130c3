// One pass of Adam's (or AdamW's) update over a parameter's contiguous float32 arrays:
// the arithmetic of LibTorch's torch::optim::Adam / AdamW step, element by element,
// in one loop instead of nine tensor operations (each a pass over memory, two of them
// allocating temporaries). Torch-free, so it compiles with its own flags
// (CMakeLists.txt: vectorised, and without contraction: the fused multiply-adds it does
// are written out, so that every machine and every instruction set computes the same
// bits). Pure; thread-safe.
#pragma once

#include <cstdint>

namespace cerebro::train {

// The step's scalars, as LibTorch's kernels see them: each is computed in double by
// the optimizer and rounded to float when it reaches the float kernel.
struct AdamScalars {
  float beta1 = 0;            // exp_avg.mul_(beta1)
  float one_minus_beta1 = 0;  // exp_avg.add_(grad, 1 - beta1)
  float beta2 = 0;            // exp_avg_sq.mul_(beta2)
  float one_minus_beta2 = 0;  // exp_avg_sq.addcmul_(grad, grad, 1 - beta2)
  float sqrt_bias_correction2 = 1;  // denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps
  float eps = 0;
  float neg_step_size = 0;  // param.addcdiv_(exp_avg, denom, -lr / (1 - beta1^step))
  float weight_decay = 0;   // Adam: grad + weight_decay * param (when not 0), before the moments
  float param_scale = 1;    // AdamW: param * (1 - lr * weight_decay), before the update
  bool decoupled = false;   // AdamW (param_scale) rather than Adam (weight_decay)
};

// Updates n elements of param, exp_avg and exp_avg_sq in place from grad, with the
// loops compiled for the best instruction set this CPU has.
void AdamUpdate(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamScalars& s);

// For tests: the same with the loops for `isa`; false, changing nothing, when this CPU
// does not have it. Every instruction set gives the same bits.
enum class AdamIsa { kBest, kAvx512, kAvx2, kBaseline };
bool AdamUpdateOn(AdamIsa isa, float* param, const float* grad, float* exp_avg,
                  float* exp_avg_sq, int64_t n, const AdamScalars& s);

}  // namespace cerebro::train

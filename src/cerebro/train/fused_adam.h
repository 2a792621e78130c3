// Adam and AdamW whose step makes one pass over each parameter (adam_kernel.h) instead
// of LibTorch's nine tensor operations. Same options, same per-parameter state
// (torch::optim::AdamParamState / AdamWParamState, keyed as LibTorch keys it), so states
// save, load and average exactly as LibTorch's optimizers' do, and the arithmetic is
// theirs element by element (train_test compares the two). A step over anything the
// kernel does not take (a parameter or state that is not a contiguous float32 CPU
// tensor, a sparse gradient, amsgrad) is LibTorch's own. Why: on the 784-1000-500-10
// MLP at batch 128 LibTorch's Adam step took ~28% of a training step (docs/design.md,
// "Adam in one pass"). Thread-compatible: an optimizer is used by one thread.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace cerebro::train {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace cerebro::train

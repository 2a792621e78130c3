// Optimizers: how each optimizer kind is built from a model config, and how its
// per-parameter state (momentum buffers, Adam's moments and step counts) is written into
// and read back from a model state. Each kind is one entry in optimizer_state.cc's table
// that names its state's slots once, the way LibTorch's param states serialize
// themselves; saving, loading and averaging all go through that one list, so adding an
// optimizer touches one place. Thread-compatible: an optimizer is used by one thread.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "cerebro/model/registry.h"

namespace cerebro::train {

// The optimizer `config.optimizer` names over `params`, with the config's lr, momentum
// and weight_decay.
std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const model::ModelConfig& config,
                                                       std::vector<torch::Tensor> params);

// Writes the per-parameter state of `optimizer` (built by MakeOptimizer for `kind`) into
// `archive`, keyed by each parameter's index in its parameter list (the layout is in
// optimizer_state.cc). No hyperparameters: each unit's config supplies its own.
void SaveOptimizerState(torch::optim::Optimizer& optimizer, model::OptimizerKind kind,
                        torch::serialize::OutputArchive& archive);

// Reads what SaveOptimizerState wrote for the same kind into `optimizer`, freshly built
// over the same parameters. Throws c10::Error when the state is for another parameter
// count, or a slot's shape differs from its parameter's.
void LoadOptimizerState(torch::serialize::InputArchive& archive, model::OptimizerKind kind,
                        torch::optim::Optimizer& optimizer);

// The state tensors of parameter `index` in slot order (handles onto the optimizer's
// own tensors, so writing into them changes the state), or none when the optimizer has
// no state for it yet. Step counts are not tensors and are not included.
std::vector<torch::Tensor> StateTensors(torch::optim::Optimizer& optimizer,
                                        model::OptimizerKind kind, size_t index);

// How LibTorch's optimizers key a parameter's state in Optimizer::state() (by its
// TensorImpl's address); fused_adam.h keeps its state the same way.
std::string ParamStateKey(const torch::Tensor& p);

}  // namespace cerebro::train

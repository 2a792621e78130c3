// The model-state codec: the bytes in which a model's weights and optimizer state travel
// from one unit to the next (through the C seam, other processes, object stores and
// disks). A state holds no hyperparameters, so a search (e.g. PBT) may change them
// between units. Layout: the 16-byte header (state_header.h), then one torch archive:
//   "model"           the module's parameters and buffers (Module::save)
//   "optimizer"       per-parameter optimizer state (optimizer_state.h)
//   "optimizer_kind"  int64 model::OptimizerKind
// Encoding is deterministic: the same model and optimizer state give the same bytes.
// Thread-compatible (the net and optimizer are used by one thread).
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

#include "cerebro/common/status.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/malloc_buffer.h"

namespace cerebro::train {

// The state of `net` and `optimizer` (built by MakeOptimizer for `kind`). Throws
// c10::Error if torch fails and std::bad_alloc when memory runs out.
MallocBuffer EncodeState(const model::Net& net, torch::optim::Optimizer& optimizer,
                         model::OptimizerKind kind);

// Loads `state` into the freshly built `net` and, if not null, `optimizer` (built for
// `kind`). A state saved with another optimizer kind loads its weights only: the
// optimizer starts afresh on them, since a search may change the optimizer between
// units. Every failure is DataLoss (the bytes do not describe this model), except
// running out of memory, which throws (std::bad_alloc or c10::Error, see torch_error.h).
// `verified`: the bytes were already verified whole (CheckStateHeader's `checksum`).
Status DecodeState(const uint8_t* state, size_t size, const model::Net& net,
                   torch::optim::Optimizer* optimizer, model::OptimizerKind kind,
                   bool verified = false);

}  // namespace cerebro::train

// The defaults of the common keys of a model config (registry.h's ModelConfig), in a
// torch-free header so modules that must not include torch (the driver's TensorBoard
// writer, which logs each model's learning rate) read the same values the trainer uses.
#pragma once

#include <cstdint>

namespace cerebro::model {

inline constexpr double kDefaultLearningRate = 1e-3;
inline constexpr double kDefaultMomentum = 0.0;
inline constexpr double kDefaultWeightDecay = 0.0;
inline constexpr int64_t kDefaultBatchSize = 32;

}  // namespace cerebro::model

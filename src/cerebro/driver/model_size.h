// The num_parameters metric: a model's trainable parameter count is a function of its
// params and the data's shape, so the driver asks the trainer's C API to build the net
// once (cerebro_model_num_parameters) instead of every unit reporting it. Not thread-safe
// (the run loop's RunState calls it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cerebro/spec/spec.h"

namespace cerebro::driver {

// Whether one of the spec's objectives is num_parameters.
bool RanksByModelSize(const spec::ExperimentSpec& spec);

// Counts a model's parameters for the data store in directory `data_dir()` (asked, and its
// meta.json read, at the first call: the run prepares the store after it makes its
// RunConfig), remembering each params' count. 0 when the store or the net cannot be read
// or built: that model fails at its first unit anyway.
std::function<int64_t(const spec::Json& params)> ParameterCounter(
    std::function<std::string()> data_dir);

}  // namespace cerebro::driver

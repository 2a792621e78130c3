// Turns a spec's `params` (fixed values and distributions) into concrete model
// configurations: grid search expands every `choice`; random search draws
// `num_models` configurations, each hyperparameter from its own seeded stream (so
// adding a hyperparameter does not change the values drawn for the others, and values
// are not correlated across hyperparameters, a defect of upstream Cerebro). A
// conditional param (spec::Param::when) is in a configuration only when its condition
// holds. Pure functions; thread-safe.
#pragma once

#include <random>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

struct ModelConfig {
  int id = 0;          // 0-based, stable: the position in generation order
  spec::Json params;   // flat object: every param that applies -> concrete value, in spec order
};

// Draws one value. Log forms use base-10 exponents; q-forms round to multiples of q
// (integers when the distribution is integral).
spec::Json Sample(const spec::Distribution& dist, std::mt19937_64& rng);

// Grid: the Cartesian product of all `choice`s in spec order, the last parameter
// varying fastest; a param whose condition fails is left out of that branch (no
// duplicate configurations). Random: spec.search.num_models draws; a conditional param
// is drawn (from its own stream) only for the models it applies to.
StatusOr<std::vector<ModelConfig>> GenerateConfigs(const spec::ExperimentSpec& spec);

// Number of configurations grid search would produce (saturates at INT64_MAX).
int64_t GridSize(const spec::ExperimentSpec& spec);

}  // namespace cerebro::search

// Population-based training (Jaderberg et al. 2017) as a procedure, with Ray Tune's
// PopulationBasedTraining knobs and defaults. A population of search.num_models models,
// sampled as random search samples them, trains in rounds of perturbation_interval epochs;
// when the whole population has finished a round (a barrier, so decisions depend neither
// on timing nor on the worker count) the bottom quantile is stopped and replaced by
// warm-started copies of random top-quantile models with explored params.
// Pure functions and a procedure used by one thread.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/procedure.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

// search.{perturbation_interval, quantile_fraction, resample_probability,
// perturbation_factors, burn_in_period}. Ray's defaults, except perturbation_interval
// (Ray's 60 time units mean nothing here): 1 epoch.
struct PbtOptions {
  int perturbation_interval = 1;
  double quantile_fraction = 0.25;  // in [0, 0.5]
  double resample_probability = 0.25;
  std::vector<double> perturbation_factors = {1.2, 0.8};
  int burn_in_period = 0;  // no perturbation before this many epochs
};
// One-line InvalidArgument "search.<key>: ..." for a bad or unknown knob.
StatusOr<PbtOptions> ParsePbtOptions(const spec::ExperimentSpec& spec);

// The epochs (totals since a model's first ancestor started) at which the population is
// ranked and its bottom replaced: multiples of perturbation_interval, at least
// burn_in_period and below `epochs`, ascending.
std::vector<int> PbtBoundaries(const PbtOptions& options, int epochs);

// How many of n ranked models are exploited (the bottom k) and copied from (the top k):
// ceil(n * quantile_fraction), at most floor(n / 2) (Ray's rule).
int PbtQuantileSize(int n, double quantile_fraction);

// Explores `params` (a model's flat params) over the spec's searched params, as Ray's
// _explore does: each is resampled from its distribution with probability
// resample_probability (always, when its value is not one of a choice's values), else a
// choice moves one position up or down (clamped to the ends) and a number is multiplied by
// one of perturbation_factors, then quantized as its distribution is, kept integral when
// it is and clamped to its bounds (Ray does not clamp). Fixed params are left alone.
// Conditions (spec::Param::when) hold in the result: walking the params in spec order, one
// inactive under its explored parents is dropped (no draw is spent on it) and one that
// becomes active is drawn from its prior (a fixed one takes its value).
spec::Json PbtExplore(const spec::ExperimentSpec& spec, const PbtOptions& options,
                      const spec::Json& params, std::mt19937_64& rng);

StatusOr<std::unique_ptr<Procedure>> MakePbtProcedure(const spec::ExperimentSpec& spec);

}  // namespace cerebro::search

// BOHB's proposals (Falkner et al. 2018) for ASHA and Hyperband with search.sampler: tpe:
// each new configuration is search/tpe.h's TpeSampler (its kernels, options and seeded
// streams) fitted on the results at the largest budget (rung epochs) that at least n_min =
// (searched params + 1) models have reached, random until one has (and for the first
// n_startup_trials proposals, as TPE's startup trials). Const after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/procedure.h"
#include "cerebro/search/tpe.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

class BohbSampler {
 public:
  // `budgets`: the epochs at which the procedure compares models (its rungs), any order.
  BohbSampler(const spec::ExperimentSpec& spec, TpeOptions options, std::vector<int> budgets);

  // The budget the next proposal is fitted at: the largest of the budgets that at least
  // n_min models of `run` have trained to (whatever became of them since); 0 when none.
  int Budget(const Observation& run) const;

  // Proposal `index` (a procedure counts its proposals). TPE's observations: each model
  // of `run` that trained to Budget(run) epochs, with its metrics at that epoch; a model
  // stopped short of it as a stopped trial (ranked after those, more epochs first, as
  // Optuna ranks pruned trials); a failed one left out; every other model (live, or waiting
  // at a lower rung) and `pending` (this decision batch's earlier proposals) in flight,
  // "bad" under the constant liar. Random (TpeSampler's startup draw) while Budget is 0.
  spec::Json Propose(const Observation& run, const std::vector<const spec::Json*>& pending,
                     uint64_t index) const;

  size_t n_min() const { return n_min_; }

 private:
  TpeSampler sampler_;
  TpeOptions options_;
  std::vector<spec::MetricSpec> objectives_;
  std::vector<int> budgets_;  // descending, distinct
  size_t n_min_ = 1;
};

// The TPE knobs search.sampler: tpe takes (TpeOptionKeys but in_flight: a BOHB proposal
// sees whatever results exist when it is made), read from spec.search.options; the other
// keys of `options` are left to the caller. A one-line InvalidArgument for a bad value.
const std::vector<std::string>& BohbOptionKeys();
StatusOr<TpeOptions> ParseBohbOptions(const spec::Json& options);

}  // namespace cerebro::search

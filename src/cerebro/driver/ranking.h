// The ranking rule, in one place (the summary, the progress line's "best so far" and
// checkpoint retention all use it):
//   1. models with at least one finished epoch that did not fail — completed, stopped,
//      and (while the run is live) running ones — by their LAST epoch's metric, better
//      first; on an equal metric completed before stopped before running, then more
//      epochs first, then the lower id;
//   2. then models that never finished an epoch and did not fail, by id;
//   3. then failed models, by id.
// With two or more objectives (spec.h) group 1 is ranked by Pareto dominance instead:
// by non-dominated front of their last epoch's objective values (front 0: no other model
// of the group is at least as good in every objective and better in one; front 1: only
// front 0 dominates them; ...), within a front by the first objective, and on equal values
// as above (status, epochs, id). Front 0 is the run's Pareto front. With one objective the
// fronts are the metric's distinct values, so both rules rank alike.
// The best model is rank 1 when it is in group 1. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

// The value of `metric` (a name spec.h's MetricSpec admits) in a row: validation or training
// accuracy or loss, or seconds_per_example (seconds / train_examples; 0 without examples).
// A row does not know its model's size: num_parameters reads 0 here (use the next one).
double MetricOf(const store::EpochRow& row, const std::string& metric);
// The value of `metric` for a model after its last epoch (it has one); num_parameters
// is the model's own.
double MetricOf(const store::ModelOutcome& m, const std::string& metric);
// Whether `a` is strictly better than `b` in direction `d`.
bool Better(double a, double b, spec::Direction d);

// Sorts `models` by the rule above and sets each one's rank (1-based).
void RankModels(std::vector<store::ModelOutcome>* models, const std::string& metric,
                spec::Direction direction);
// The same for one or more objectives; returns the ids of the Pareto front (group 1's
// front 0), in rank order.
std::vector<int> RankModels(std::vector<store::ModelOutcome>* models,
                            const std::vector<spec::MetricSpec>& objectives);
// Whether `a` ranks before `b` by one metric (the single-objective sort's comparison).
bool RanksBefore(const store::ModelOutcome& a, const store::ModelOutcome& b,
                 const std::string& metric, spec::Direction direction);

}  // namespace cerebro::driver

// The ranking rule, in one place (the summary, the progress line's "best so far" and
// checkpoint retention all use it):
//   1. models with at least one finished epoch that did not fail — completed, stopped,
//      and (while the run is live) running ones — by their LAST epoch's metric, better
//      first; on an equal metric completed before stopped before running, then more
//      epochs first, then the lower id;
//   2. then models that never finished an epoch and did not fail, by id;
//   3. then failed models, by id.
// The best model is rank 1 when it is in group 1. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {

// The value of `metric` ("accuracy" | "loss") in a row: validation accuracy or loss.
double MetricOf(const store::EpochRow& row, const std::string& metric);
// Whether `a` is strictly better than `b` in direction `d`.
bool Better(double a, double b, spec::Direction d);

// Sorts `models` by the rule above and sets each one's rank (1-based).
void RankModels(std::vector<store::ModelOutcome>* models, const std::string& metric,
                spec::Direction direction);
// Whether `a` ranks before `b` (the sort's comparison).
bool RanksBefore(const store::ModelOutcome& a, const store::ModelOutcome& b,
                 const std::string& metric, spec::Direction direction);

}  // namespace cerebro::driver

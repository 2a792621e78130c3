// Internal to the successive-halving procedures (asha.cc, hyperband.cc and
// successive_halving.cc, which defines what is declared here): knob parsing, the scorer a
// rung ranks by, the configuration sources of search.sampler, and the refilling that
// search.sampler: tpe shares. Not part of the search module's interface
// (successive_halving.h is).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/bohb.h"
#include "cerebro/search/pareto.h"
#include "cerebro/search/procedure.h"
#include "cerebro/search/space.h"
#include "cerebro/search/successive_halving.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

// Floors and logs of products of doubles land a hair below an exact integer
// (log(9) / log(3) = 1.9999999999999998): compare with this much slack.
constexpr double kSlack = 1e-9;

// search.sampler and, for tpe, its knobs; every other key of search must be in `known`
// (a method's own knobs) or a one-line InvalidArgument names it.
Status ReadSampler(const spec::ExperimentSpec& spec, const std::vector<std::string>& known,
                   Sampler* sampler, TpeOptions* tpe);
// search.<key> into *out when present: an integer >= min, or a number > / >= min.
Status ReadInt(const spec::Json& options, const std::string& key, int min, int* out);
Status ReadNumber(const spec::Json& options, const std::string& key, double min,
                  bool min_excluded, double* out);
// "%.4g": numbers in decisions' details.
std::string Short(double x);

// Bigger is better, whatever the metric's direction (Ray's "reward"). With two or more
// objectives a rung compares models by Pareto order instead (search/pareto.h: front, then
// crowding distance, then the first objective), and Score is the first objective's.
struct Scorer {
  std::string metric;
  spec::Direction direction;
  std::vector<spec::MetricSpec> objectives;  // spec::Objectives(spec); [0] is `metric`
  double Value(const EpochMetrics& e) const { return MetricValue(e, metric); }
  double Score(const EpochMetrics& e) const {
    return direction == spec::Direction::kMaximize ? Value(e) : -Value(e);
  }
  bool pareto() const { return objectives.size() > 1; }
  // The indices of `epochs`' models, best first: by score (ties: the lower index), or in
  // Pareto order (ties within a front by crowding distance, then the first objective).
  std::vector<size_t> Order(const std::vector<const EpochMetrics*>& epochs) const {
    std::vector<Point> points;
    for (const EpochMetrics* e : epochs) {
      points.push_back(pareto() ? ObjectiveValues(*e, objectives) : Point{Score(*e)});
    }
    if (!pareto()) {
      return ParetoOrder(points, {spec::Direction::kMaximize}, ParetoTieBreak::kFirstObjective);
    }
    return ParetoOrder(points, DirectionsOf(objectives), ParetoTieBreak::kCrowding);
  }
};

Scorer ScorerFor(const spec::ExperimentSpec& spec);
// numpy.percentile's default (linear) interpolation, as Ray's cutoff uses it.
double Percentile(std::vector<double> v, double q);
// search.sampler: random: n configurations as random search draws them.
StatusOr<std::vector<ModelConfig>> SampleConfigs(const spec::ExperimentSpec& spec, int n);
// search.sampler: grid. The grid of spec's params (search/space.h), in grid order, or a
// one-line InvalidArgument naming the knob at fault.
StatusOr<std::vector<ModelConfig>> GridConfigs(const spec::ExperimentSpec& spec);

// ---- search.sampler: tpe (BOHB-like) ---------------------------------------------------

// How many models a TPE-fed procedure keeps runnable (pending or running): the workers and
// a margin, so that a worker finding its model stopped or waiting at a rung has another at
// hand while the next proposal waits for the decision round; few enough that most
// proposals see recent results.
int RunnableTarget(int slots);
// The models of `ours` that are runnable once `out` (this call's decisions) is applied.
int Runnable(const Observation& run, const std::vector<ModelId>& ours,
             const std::vector<Decision>& out);

// Adds proposals to `out` while fewer than RunnableTarget of `ours` are runnable and
// more(&epochs) says another model is wanted (and sets its epoch budget), numbering them
// from *proposed on; added(id) is told each new model's id (the id the run loop will give
// it: a batch's models are numbered in order from FirstNewId(run)).
template <typename More, typename Added>
void Refill(const BohbSampler& bohb, const Observation& run, const std::vector<ModelId>& ours,
            int64_t* proposed, More more, Added added, std::vector<Decision>* out) {
  int runnable = Runnable(run, ours, *out);
  ModelId next = FirstNewId(run);
  for (const Decision& d : *out) next += std::holds_alternative<AddModel>(d);
  std::deque<spec::Json> batch;  // stable addresses: pending points into it
  std::vector<const spec::Json*> pending;
  int epochs = 0;
  while (runnable < RunnableTarget(run.slots) && more(&epochs)) {
    batch.push_back(bohb.Propose(run, pending, static_cast<uint64_t>(*proposed)));
    pending.push_back(&batch.back());
    out->push_back(AddModel{batch.back(), epochs, -1});
    added(next++);
    ++*proposed;
    ++runnable;
  }
}

}  // namespace cerebro::search

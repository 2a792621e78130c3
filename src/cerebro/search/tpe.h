// TPE: the Tree-structured Parzen Estimator (Bergstra et al. 2011) as a Procedure, native
// C++, following Optuna's TPESampler where it is sound (differences in docs/design.md and
// tpe.cc). It owns only a proposal counter: every draw is re-derived from the seed and that
// counter, and everything else from the observations, so SaveState is tiny and a restored
// procedure proposes exactly what the uninterrupted one would. Used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/procedure.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

// The knobs, read from spec.search.options (defaults as Optuna's TPESampler, except that
// the constant liar is on: pending and running models count as bad observations).
struct TpeOptions {
  // Models proposed ahead of results: proposal k sees the results of the first
  // k - in_flight + 1 models only. 0 = max(4, run.workers), so 1 to 4 workers decide alike.
  int in_flight = 0;
  int n_startup_trials = 10;  // random until this many models have finished (Optuna's count)
  int n_ei_candidates = 24;   // candidates drawn from l(x); the best l(x)/g(x) wins
  double prior_weight = 1.0;  // weight of the prior kernel (uniform-ish over the range)
  bool multivariate = false;  // one joint estimator over all parameters
  bool constant_liar = true;  // pending/running models join the "bad" group
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
};

// A model as TPE's estimate sees it: a result (the loss to minimize), or in flight.
struct TpeTrial {
  const spec::Json* params = nullptr;  // borrowed: flat, as ModelView::params
  // kRunning: a "bad" observation (the constant liar). kStopped: ended early; ranks after
  // the completed ones, more epochs first (Optuna's pruned trials).
  enum class State { kComplete, kStopped, kRunning } state = State::kRunning;
  double loss = 0;  // finished trials: the last epoch's metric, negated when maximized
  int epochs = 0;   // epochs trained
  // Two or more objectives (MOTPE): each one's loss as `loss` is the first's; the good
  // group is then chosen by non-dominated sorting (tpe.cc's Split). Empty for one.
  std::vector<double> losses;
};

// `m` as a trial under `metric` (pending/running in flight); nullopt for a failed model or
// one without an epoch, which TPE leaves out.
std::optional<TpeTrial> TpeTrialOf(const ModelView& m, const spec::MetricSpec& metric);
// The same under `objectives` (spec::Objectives): with two or more, `losses` holds each.
std::optional<TpeTrial> TpeTrialOf(const ModelView& m,
                                   const std::vector<spec::MetricSpec>& objectives);

// TPE's split of `trials` into the good group (l's observations) and the bad one (g's),
// each in the trials' order: the best gamma(n) = min(ceil(0.1 n), 25) finished trials,
// completed before stopped (more epochs first), by loss — or, when the trials have
// `losses`, by non-dominated front, cutting the boundary front by crowding distance
// (MOTPE; tpe.cc says where this differs from Optuna). In-flight trials are always bad.
void TpeSplit(const std::vector<TpeTrial>& trials, std::vector<const TpeTrial*>* below,
              std::vector<const TpeTrial*>* above);

// One TPE proposal at a time over spec's params, for procedures that decide themselves when
// to add a model (a TPE-fed Hyperband, BOHB-like) as well as for the TPE procedure. Random
// (search/space.h's draws) while fewer than n_startup_trials (and no) trials are finished.
// Proposal `index` draws from its own streams, derived from run.seed and index, so a caller
// keeps only a counter. Const after construction: thread-compatible.
class TpeSampler {
 public:
  TpeSampler(const spec::ExperimentSpec& spec, TpeOptions options);
  ~TpeSampler();
  TpeSampler(TpeSampler&&) noexcept;
  TpeSampler& operator=(TpeSampler&&) noexcept;

  // Every spec param (fixed ones too), in spec order. `trials`: in model id order (the
  // weights favour later ones); models whose values lie outside the space are left out.
  spec::Json Propose(const std::vector<TpeTrial>& trials, uint64_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads and checks the options: unknown keys and bad values are one line naming the key
// ("search.n_ei_candidates: expected a positive integer, got 0").
StatusOr<TpeOptions> ParseTpeOptions(const spec::Json& options);
// TpeOptions' keys in spec.search, in the order above (in_flight first).
const std::vector<std::string>& TpeOptionKeys();

// The TPE procedure for `spec` (method tpe; spec.search.num_models is the total number of
// models it proposes). InvalidArgument for bad options or a missing num_models.
StatusOr<std::unique_ptr<Procedure>> MakeTpeProcedure(const spec::ExperimentSpec& spec);

}  // namespace cerebro::search

// Early stopping over epochs, as procedures: ASHA (asynchronous successive halving, with
// Ray Tune's ASHAScheduler knobs and cutoff; a rung takes its results in model-id order,
// not arrival order, so its decisions do not depend on timing or the worker count) and
// Hyperband (Li et al. 2018: brackets of synchronous successive halving, all brackets side
// by side so MOP keeps every worker busy). Their configurations come from search.sampler
// (below: random search's draws by default, or the grid).
// The schedule helpers are pure functions; a procedure is used by one thread.
#pragma once

#include <memory>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/procedure.h"
#include "cerebro/search/tpe.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search {

// search.sampler: where ASHA's and Hyperband's configurations come from.
// - random (the default): search.num_models draws (ASHA) or the brackets' total (Hyperband),
//   as random search draws them (search/space.h), all at the start.
// - grid: the grid of the params (every searched param a `choice`), in grid order, all at
//   the start. ASHA: num_models defaults to the grid's size, and another value is refused.
//   Hyperband: its brackets take the grid's configurations in order (the first bracket the
//   first n_0, ...), so the grid's size must equal the brackets' total (a one-line error
//   naming both numbers otherwise: choose max_t/eta, or the grid, to fit).
// - tpe (BOHB-like: Falkner et al. 2018, as Ray Tune's TuneBOHB + HyperBandForBOHB and
//   Optuna's TPESampler + HyperbandPruner): models are added as the run goes, each proposed
//   by TPE (search/bohb.h: tpe.h's sampler fitted on the results at the largest rung that
//   has at least searched params + 1 of them; random before that and for the first
//   n_startup_trials; models in flight count as the constant liar's "bad" ones). TPE's
//   knobs (search.n_startup_trials, n_ei_candidates, prior_weight, multivariate,
//   constant_liar, consider_magic_clip, consider_endpoints; not in_flight) apply. ASHA:
//   about `slots` + a margin of its models kept runnable, new ones added as models stop,
//   wait at a rung or finish, until num_models. Hyperband: the brackets' first rungs are
//   filled the same way, bracket by bracket (see successive_halving.cc for why).
//   What depends on timing: which results exist when a proposal is made depends on the
//   worker count and on which models finished first, so with tpe the configurations (and
//   with them the decisions) may differ between 1 and 2 workers; each decision is still a
//   function of the journaled state and the observations it was made on, so a resumed
//   run goes on from the journal. With random and grid, as before, they do not.
enum class Sampler { kRandom, kGrid, kTpe };
// search.sampler (absent: random); a one-line InvalidArgument naming it otherwise.
StatusOr<Sampler> ParseSampler(const spec::Json& options);

// search.{grace_period, reduction_factor, max_t, brackets, sampler}; Ray Tune's defaults,
// except max_t, which defaults to run.epochs (Ray's 100 iterations mean nothing here).
struct AshaOptions {
  int grace_period = 1;
  double reduction_factor = 4;
  int max_t = 0;
  int brackets = 1;
  Sampler sampler = Sampler::kRandom;
  TpeOptions tpe;  // sampler tpe's knobs
};
// One-line InvalidArgument "search.<key>: ..." for a bad or unknown knob.
StatusOr<AshaOptions> ParseAshaOptions(const spec::ExperimentSpec& spec);

// The rungs (epochs at which a model is compared) of ASHA bracket `s`, ascending:
// grace_period * reduction_factor^k for k >= s, up to max_t (Ray's _Bracket milestones).
std::vector<double> AshaRungs(const AshaOptions& options, int s);

// search.{max_t, eta, sampler} (eta also as Ray's name, reduction_factor); defaults
// run.epochs, 3, random.
struct HyperbandOptions {
  int max_t = 0;
  double eta = 3;
  Sampler sampler = Sampler::kRandom;
  TpeOptions tpe;  // sampler tpe's knobs
};
StatusOr<HyperbandOptions> ParseHyperbandOptions(const spec::ExperimentSpec& spec);

// One Hyperband bracket: rung i trains models[i] models to epochs[i] epochs; the best
// models[i + 1] of them go on. epochs is strictly increasing and ends at max_t.
struct HyperbandBracket {
  int s = 0;
  std::vector<int> models;
  std::vector<int> epochs;
};
// The brackets s = s_max .. 0 of Li et al.: s_max = floor(log_eta(max_t)),
// n = ceil((s_max + 1) / (s + 1) * eta^s) models at r = floor(max_t * eta^-s) epochs,
// rung i keeping floor(n * eta^-i) models at floor(max_t * eta^(i - s)) epochs.
std::vector<HyperbandBracket> HyperbandBrackets(const HyperbandOptions& options);

StatusOr<std::unique_ptr<Procedure>> MakeAshaProcedure(const spec::ExperimentSpec& spec);
StatusOr<std::unique_ptr<Procedure>> MakeHyperbandProcedure(const spec::ExperimentSpec& spec);

// A model that completed a budget below this many epochs may still be extended by the
// spec's procedure (Hyperband promotes completed models), so its latest state must
// outlive run.keep_best retention (driver::RunConfig::keep_completed_below_epochs).
// 0 when the procedure never extends a completed model.
int ExtendsCompletedModelsBelow(const spec::ExperimentSpec& spec);

// True when the spec's procedure reaches its decisions soonest if MOP trains the
// lowest-id runnable model first (driver::RunConfigFor then picks that policy): ASHA. Its
// rungs take results in model-id order, so a model's turn comes once every lower-id model
// of its bracket has reached the rung; with the random greedy order all models would
// cross rung 1 together before the first promotion, and a promoted model would then share
// the workers with every newcomer, so the best model would reach max_t near the end of
// the run. Lowest id first is Ray Tune's FIFO trial order: a promoted model goes on at
// once and the newcomers fill the other workers. It changes when decisions are taken,
// never which (they are functions of the metrics alone).
bool TrainsLowestIdFirst(const spec::ExperimentSpec& spec);

}  // namespace cerebro::search

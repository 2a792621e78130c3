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
enum class Sampler { kRandom, kGrid };
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

}  // namespace cerebro::search

#include "cerebro/search/bohb.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace cerebro::search {

BohbSampler::BohbSampler(const spec::ExperimentSpec& spec, TpeOptions options,
                         std::vector<int> budgets)
    : sampler_(spec, options),
      options_(options),
      objectives_(spec::Objectives(spec)),
      budgets_(std::move(budgets)) {
  std::sort(budgets_.begin(), budgets_.end(), std::greater<int>());
  budgets_.erase(std::unique(budgets_.begin(), budgets_.end()), budgets_.end());
  // BOHB's min_points_in_model default: one more than the dimensions.
  n_min_ = 1 + static_cast<size_t>(std::count_if(spec.params.begin(), spec.params.end(),
                                                 [](const spec::Param& p) { return p.searched; }));
}

int BohbSampler::Budget(const Observation& run) const {
  for (int b : budgets_) {
    const size_t reached = static_cast<size_t>(
        std::count_if(run.models.begin(), run.models.end(),
                      [&](const ModelView& m) { return static_cast<int>(m.history.size()) >= b; }));
    if (reached >= n_min_) return b;
  }
  return 0;
}

spec::Json BohbSampler::Propose(const Observation& run,
                                const std::vector<const spec::Json*>& pending,
                                uint64_t index) const {
  const int budget = Budget(run);
  std::vector<TpeTrial> trials;
  auto in_flight = [&](const spec::Json* params) {
    if (!options_.constant_liar) return;
    TpeTrial t;
    t.params = params;  // state kRunning
    trials.push_back(t);
  };
  if (budget > 0) {
    std::vector<const ModelView*> models;
    for (const ModelView& m : run.models) models.push_back(&m);
    // TpeSampler wants id order (its weights favour later trials).
    std::stable_sort(models.begin(), models.end(),
                     [](const ModelView* a, const ModelView* b) { return a->id < b->id; });
    for (const ModelView* m : models) {
      if (static_cast<int>(m->history.size()) >= budget) {
        // Its result at the budget, as if it had completed there.
        ModelView at;
        at.status = ModelStatus::kCompleted;
        at.history.assign(m->history.begin(), m->history.begin() + budget);
        std::optional<TpeTrial> t = TpeTrialOf(at, objectives_);
        t->params = &m->params;
        trials.push_back(std::move(*t));
      } else if (m->status == ModelStatus::kStopped) {
        if (std::optional<TpeTrial> t = TpeTrialOf(*m, objectives_)) trials.push_back(*t);
      } else if (m->status != ModelStatus::kFailed) {
        in_flight(&m->params);
      }
    }
    for (const spec::Json* p : pending) in_flight(p);
  }
  return sampler_.Propose(trials, index);
}

const std::vector<std::string>& BohbOptionKeys() {
  static const std::vector<std::string> keys(TpeOptionKeys().begin() + 1, TpeOptionKeys().end());
  return keys;
}

StatusOr<TpeOptions> ParseBohbOptions(const spec::Json& options) {
  spec::Json tpe = spec::Json::object();
  for (const std::string& k : BohbOptionKeys()) {
    if (options.contains(k)) tpe[k] = options[k];
  }
  return ParseTpeOptions(tpe);
}

}  // namespace cerebro::search

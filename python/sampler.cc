#include "sampler.h"

#include <cmath>
#include <limits>
#include <utility>

namespace cerebro::python {

AskTellSampler::AskTellSampler(spec::ExperimentSpec spec, search::TpeOptions options)
    : spec_(std::move(spec)), sampler_(spec_, options) {}

StatusOr<std::unique_ptr<AskTellSampler>> AskTellSampler::Create(const std::string& spec_text) {
  ASSIGN_OR_RETURN(spec::ExperimentSpec spec, spec::ParseSpecString(spec_text, "space"));
  search::TpeOptions options;
  if (spec.search.method == spec::SearchMethod::kTpe) {
    ASSIGN_OR_RETURN(options, search::ParseTpeOptions(spec.search.options));
  } else if (spec.search.method == spec::SearchMethod::kRandom) {
    options.n_startup_trials = std::numeric_limits<int>::max();  // never leaves random
  } else {
    return InvalidArgument("search.method: ask/tell needs tpe or random");
  }
  return std::unique_ptr<AskTellSampler>(new AskTellSampler(std::move(spec), options));
}

spec::Json AskTellSampler::Ask() {
  std::vector<search::TpeTrial> trials;
  trials.reserve(trials_.size());
  for (size_t i = 0; i < trials_.size(); ++i) {
    search::TpeTrial t;
    t.params = &trials_[i].params;
    t.state = trials_[i].told ? search::TpeTrial::State::kComplete : search::TpeTrial::State::kRunning;
    t.loss = trials_[i].value;
    t.epochs = 1;
    trials.push_back(t);
  }
  spec::Json params = sampler_.Propose(trials, static_cast<uint64_t>(trials_.size()));
  trials_.push_back({params, false, 0});
  return params;
}

Status AskTellSampler::Tell(const spec::Json& config, double value) {
  if (std::isnan(value)) return InvalidArgument("value: NaN is no result (tell a finite loss)");
  for (Trial& t : trials_) {
    if (!t.told && t.params == config) {
      t.told = true;
      t.value = value;
      return Status::Ok();
    }
  }
  return InvalidArgument("config: not a pending proposal of this sampler (ask() it first; "
                         "each proposal is told once): " + config.dump());
}

}  // namespace cerebro::python

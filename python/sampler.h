// Ask/tell over the engine's own samplers (search/tpe.h), for any Python objective: ask()
// proposes a configuration, tell(config, value) reports the value to minimize. Proposal k
// is TpeSampler::Propose over every configuration asked so far (told ones with their
// values, the others in flight: TPE's constant liar) with index k, so a seed gives the
// same sequence of proposals for the same values told in the same order. Random search
// is the same sampler that never leaves its start-up phase. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/search/tpe.h"
#include "cerebro/spec/spec.h"

namespace cerebro::python {

class AskTellSampler {
 public:
  // `spec_text`: a spec (JSON) whose params are the space, run.seed the seed, and for TPE
  // search.method tpe with its knobs (search/tpe.h); method random samples at random.
  // InvalidArgument with the engine's one line for a bad space or knob.
  static StatusOr<std::unique_ptr<AskTellSampler>> Create(const std::string& spec_text);

  spec::Json Ask();
  // InvalidArgument when `config` is not a pending proposal, or `value` is NaN.
  Status Tell(const spec::Json& config, double value);
  int64_t asked() const { return static_cast<int64_t>(trials_.size()); }

 private:
  AskTellSampler(spec::ExperimentSpec spec, search::TpeOptions options);

  struct Trial {
    spec::Json params;
    bool told = false;
    double value = 0;
  };
  spec::ExperimentSpec spec_;
  search::TpeSampler sampler_;
  std::vector<Trial> trials_;
};

}  // namespace cerebro::python

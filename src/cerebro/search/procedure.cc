#include "cerebro/search/procedure.h"

#include <algorithm>

#include "cerebro/search/pbt.h"
#include "cerebro/search/space.h"
#include "cerebro/search/successive_halving.h"
#include "cerebro/search/tpe.h"

namespace cerebro::search {
namespace {

// Grid and random search: every configuration at the start, nothing afterwards. The
// configurations are a pure function of the spec (and its seed), so there is no state.
class StaticProcedure final : public Procedure {
 public:
  StaticProcedure(std::vector<ModelConfig> configs, int epochs)
      : configs_(std::move(configs)), epochs_(epochs) {}

  StatusOr<std::vector<Decision>> Start(const Observation&) override {
    std::vector<Decision> out;
    for (const ModelConfig& c : configs_) out.push_back(AddModel{c.params, epochs_, -1});
    return out;
  }
  StatusOr<std::vector<Decision>> OnEpochDone(const Observation&, ModelId) override {
    return std::vector<Decision>{};
  }
  spec::Json SaveState() const override { return nullptr; }
  Status RestoreState(const spec::Json&) override { return Status::Ok(); }

 private:
  std::vector<ModelConfig> configs_;
  int epochs_;
};

}  // namespace

double MetricValue(const EpochMetrics& e, const std::string& metric) {
  if (metric == "accuracy") return e.val_accuracy;
  if (metric == "loss") return e.val_loss;
  if (metric == "train_accuracy") return e.train_accuracy;
  if (metric == "train_loss") return e.train_loss;
  if (metric == "num_parameters") return e.num_parameters;
  return e.seconds_per_example;  // the spec admits no other name
}

std::vector<double> ObjectiveValues(const EpochMetrics& e,
                                    const std::vector<spec::MetricSpec>& objectives) {
  std::vector<double> v;
  for (const spec::MetricSpec& o : objectives) v.push_back(MetricValue(e, o.name));
  return v;
}

const ModelView* FindModel(const Observation& run, ModelId id) {
  for (const ModelView& m : run.models) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

ModelId FirstNewId(const Observation& run) {
  ModelId next = 0;
  for (const ModelView& m : run.models) next = std::max(next, m.id + 1);
  return next;
}


StatusOr<std::unique_ptr<Procedure>> MakeProcedure(const spec::ExperimentSpec& spec) {
  if (spec.search.method == spec::SearchMethod::kAsha) return MakeAshaProcedure(spec);
  if (spec.search.method == spec::SearchMethod::kHyperband) return MakeHyperbandProcedure(spec);
  if (spec.search.method == spec::SearchMethod::kTpe) return MakeTpeProcedure(spec);
  if (spec.search.method == spec::SearchMethod::kPbt) return MakePbtProcedure(spec);
  if (spec.search.method != spec::SearchMethod::kGrid &&
      spec.search.method != spec::SearchMethod::kRandom) {
    return InvalidArgument("search.method: " + std::string(EnumName(spec.search.method)) +
                           " is not implemented yet (use grid or random)");
  }
  ASSIGN_OR_RETURN(std::vector<ModelConfig> configs, GenerateConfigs(spec));
  return std::unique_ptr<Procedure>(std::make_unique<StaticProcedure>(std::move(configs), spec.run.epochs));
}

}  // namespace cerebro::search

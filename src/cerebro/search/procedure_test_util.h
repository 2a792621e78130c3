// Test helpers shared by the procedures' tests (space, ASHA/Hyperband, PBT): a spec from
// its params/search/run sections around a fixed CSV data section, and ScriptedRun, the
// run as a procedure sees it, driven by hand. Test-only; failures go through gtest.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "cerebro/search/procedure.h"
#include "cerebro/spec/spec.h"

namespace cerebro::search::testing {

// `params` is the params section's body (indented lines), `sections` any further top-level
// YAML (search, metric, ...), `run` the run section's flow mapping body.
inline spec::ExperimentSpec ParseTestSpec(const std::string& params, const std::string& sections,
                                          const std::string& run = "seed: 11") {
  const std::string text = "data:\n  format: csv\n  train: /tmp/x.csv\n  validation: {fraction: 0.2}\n"
                           "params:\n" + params + sections + "run: {" + run + "}\n";
  auto s = spec::ParseSpecString(text, "t.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

// MakeProcedure refuses each spec parse(search) of `cases` (search section -> message)
// with that one-line InvalidArgument.
template <typename Parse>
void ExpectRefused(const std::map<std::string, std::string>& cases, Parse parse) {
  for (const auto& [search, message] : cases) {
    auto p = MakeProcedure(parse(search));
    ASSERT_FALSE(p.ok()) << search;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << search;
    EXPECT_EQ(p.status().message(), message) << search;
  }
}

// Each model's history of validation accuracies (loss = 1 - accuracy); decisions applied
// as the run state would apply them.
class ScriptedRun {
 public:
  void Apply(const std::vector<Decision>& decisions) {
    for (const Decision& d : decisions) {
      if (const auto* add = std::get_if<AddModel>(&d)) {
        ModelView m;
        m.id = static_cast<ModelId>(models_.size());
        m.params = add->params;
        m.epochs = add->epochs;
        models_[m.id] = m;
        parent_[m.id] = add->warm_start_from;
      } else if (const auto* s = std::get_if<StopModel>(&d)) {
        // A live model, or one a procedure did not promote past its completed budget.
        ModelView& m = models_.at(s->model);
        if (m.status != ModelStatus::kFailed) m.status = ModelStatus::kStopped;
      } else {
        const auto& x = std::get<ExtendModel>(d);
        ModelView& m = models_.at(x.model);
        EXPECT_GT(x.epochs, m.epochs) << "model " << x.model;
        m.epochs = x.epochs;
        m.status = ModelStatus::kRunning;
      }
    }
  }
  // Model `id` finishes its next epoch with validation accuracy `acc` (and, for runs with a
  // second objective, `num_parameters`).
  void Epoch(ModelId id, double acc, double num_parameters = 0) {
    ModelView& m = models_.at(id);
    ASSERT_LT(static_cast<int>(m.history.size()), m.epochs) << "model " << id;
    EpochMetrics e;
    e.epoch = static_cast<int>(m.history.size()) + 1;
    e.val_accuracy = acc;
    e.val_loss = 1 - acc;
    e.num_parameters = num_parameters;
    m.history.push_back(e);
    m.status = e.epoch >= m.epochs ? ModelStatus::kCompleted : ModelStatus::kRunning;
  }
  void Fail(ModelId id) { models_.at(id).status = ModelStatus::kFailed; }
  Observation View() const {
    Observation o;
    for (const auto& [id, m] : models_) o.models.push_back(m);
    return o;
  }
  const ModelView& model(ModelId id) const { return models_.at(id); }
  ModelId parent(ModelId id) const { return parent_.at(id); }
  size_t size() const { return models_.size(); }

 private:
  std::map<ModelId, ModelView> models_;
  std::map<ModelId, ModelId> parent_;
};

}  // namespace cerebro::search::testing

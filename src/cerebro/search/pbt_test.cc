// PBT's knobs, explore rules and decisions on scripted metric histories: the procedure is
// driven directly with observations built here, as the run loop would build them.
#include "cerebro/search/pbt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "cerebro/search/procedure_test_util.h"

namespace cerebro::search {
namespace {

spec::ExperimentSpec Parse(const std::string& search, int epochs = 4) {
  return testing::ParseTestSpec(
      "  model: mlp\n  lr: {loguniform: [-4, -1]}\n  batch_size: {quniform: [8, 64, 8]}\n"
      "  hidden: {choice: [[4], [8], [16]]}\n  dropout: {uniform: [0, 0.5]}\n",
      "search: " + search + "\n", "seed: 11, epochs: " + std::to_string(epochs));
}

TEST(PbtOptionsTest, RayDefaultsAndOneLineErrors) {
  auto o = ParsePbtOptions(Parse("{method: pbt, num_models: 4}"));
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->perturbation_interval, 1);
  EXPECT_EQ(o->quantile_fraction, 0.25);
  EXPECT_EQ(o->resample_probability, 0.25);
  EXPECT_EQ(o->perturbation_factors, (std::vector<double>{1.2, 0.8}));
  EXPECT_EQ(o->burn_in_period, 0);
  const std::map<std::string, std::string> bad = {
      {"{method: pbt, num_models: 4, quantile_fraction: 0.6}",
       "search.quantile_fraction: expected a number in [0, 0.5], got 0.6"},
      {"{method: pbt, num_models: 4, perturbation_interval: 0}",
       "search.perturbation_interval: expected an integer >= 1, got 0"},
      {"{method: pbt, num_models: 4, perturbation_factors: [1.2, -1]}",
       "search.perturbation_factors: expected a non-empty list of positive numbers, got "
       "[1.2,-1]"},
      {"{method: pbt, num_models: 4, eta: 3}", "search.eta: not an option of pbt"}};
  for (const auto& [search, message] : bad) {
    auto r = ParsePbtOptions(Parse(search));
    ASSERT_FALSE(r.ok()) << search;
    EXPECT_EQ(r.status().message().rfind(message, 0), 0u) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  auto one = MakePbtProcedure(Parse("{method: pbt, num_models: 1}"));
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().message(), "search.num_models: pbt needs a population of num_models >= 2");
}

TEST(PbtScheduleTest, BoundariesAndQuantile) {
  PbtOptions o;
  o.perturbation_interval = 2;
  EXPECT_EQ(PbtBoundaries(o, 7), (std::vector<int>{2, 4, 6}));
  EXPECT_EQ(PbtBoundaries(o, 6), (std::vector<int>{2, 4}));
  o.burn_in_period = 3;
  EXPECT_EQ(PbtBoundaries(o, 7), (std::vector<int>{4, 6}));
  EXPECT_EQ(PbtQuantileSize(8, 0.25), 2);
  EXPECT_EQ(PbtQuantileSize(5, 0.25), 2);  // ceil(1.25)
  EXPECT_EQ(PbtQuantileSize(3, 0.5), 1);   // at most n / 2
  EXPECT_EQ(PbtQuantileSize(4, 0), 0);
}

TEST(PbtExploreTest, PerturbsByAFactorShiftsChoicesKeepsIntsAndBounds) {
  const spec::ExperimentSpec spec = Parse("{method: pbt, num_models: 4}");
  PbtOptions o;
  o.resample_probability = 0;
  const spec::Json params = {{"model", "mlp"},
                             {"lr", 0.01},
                             {"batch_size", 64},
                             {"hidden", {8}},
                             {"dropout", 0.45}};
  std::set<double> lrs;
  std::set<std::string> hidden;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    std::mt19937_64 rng(seed);
    const spec::Json e = PbtExplore(spec, o, params, rng);
    EXPECT_EQ(e["model"], "mlp");
    lrs.insert(e["lr"].get<double>());
    hidden.insert(e["hidden"].dump());
    ASSERT_TRUE(e["batch_size"].is_number_integer()) << e.dump();
    // 64 x 1.2 is out of bounds: clamped to the last multiple of 8; 64 x 0.8 = 51.2 -> 48.
    EXPECT_TRUE(e["batch_size"] == 64 || e["batch_size"] == 48) << e.dump();
    const double d = e["dropout"].get<double>();
    EXPECT_TRUE(d == 0.5 || std::abs(d - 0.36) < 1e-12) << d;  // 0.54 clamped, 0.36
  }
  EXPECT_EQ(lrs.size(), 2u);
  EXPECT_NEAR(*lrs.begin(), 0.008, 1e-12);
  EXPECT_NEAR(*lrs.rbegin(), 0.012, 1e-12);
  EXPECT_EQ(hidden, (std::set<std::string>{"[4]", "[16]"}));
  // A choice at an end moves inward or stays.
  std::mt19937_64 rng(3);
  spec::Json edge = params;
  edge["hidden"] = {16};
  for (int i = 0; i < 16; ++i) {
    const spec::Json e = PbtExplore(spec, o, edge, rng);
    EXPECT_TRUE(e["hidden"] == spec::Json({16}) || e["hidden"] == spec::Json({8})) << e.dump();
  }
  // Resampling always: every value within the spec's space; same seed, same draw.
  o.resample_probability = 1;
  std::mt19937_64 a(7), b(7);
  const spec::Json x = PbtExplore(spec, o, params, a);
  EXPECT_EQ(x, PbtExplore(spec, o, params, b));
  EXPECT_GE(x["lr"].get<double>(), 1e-4);
  EXPECT_LE(x["lr"].get<double>(), 1e-1);
}

TEST(PbtExploreTest, ExploredConfigsSatisfyTheConditions) {
  const spec::ExperimentSpec spec = testing::ParseTestSpec(
      "  model: {choice: [mlp, cnn]}\n"
      "  hidden: {when: {model: mlp}, choice: [[64], [128, 64]]}\n"
      "  conv_channels: {when: {model: cnn}, choice: [[16, 32], [32, 64]]}\n"
      "  optimizer: {choice: [sgd, adam]}\n"
      "  momentum: {when: {optimizer: sgd}, uniform: [0.5, 0.99]}\n"
      "  nesterov: {when: {optimizer: sgd}, value: true}\n"
      "  lr: {loguniform: [-4, -1]}\n",
      "search: {method: pbt, num_models: 4}\n");
  const spec::Json parent = {{"model", "mlp"},     {"hidden", {64}}, {"optimizer", "sgd"},
                             {"momentum", 0.9},    {"nesterov", true}, {"lr", 0.01}};
  std::set<std::string> models, optimizers;
  for (double resample : {0.0, 0.5, 1.0}) {
    PbtOptions o;
    o.resample_probability = resample;
    for (uint64_t seed = 0; seed < 64; ++seed) {
      std::mt19937_64 rng(seed);
      const spec::Json e = PbtExplore(spec, o, parent, rng);
      models.insert(e["model"].get<std::string>());
      optimizers.insert(e["optimizer"].get<std::string>());
      // A param exists exactly where its condition holds.
      EXPECT_EQ(e.contains("hidden"), e["model"] == "mlp") << e.dump();
      EXPECT_EQ(e.contains("conv_channels"), e["model"] == "cnn") << e.dump();
      EXPECT_EQ(e.contains("momentum"), e["optimizer"] == "sgd") << e.dump();
      EXPECT_EQ(e.contains("nesterov"), e["optimizer"] == "sgd") << e.dump();
      if (e.contains("conv_channels")) {  // newly active: a value of its prior
        EXPECT_TRUE(e["conv_channels"] == spec::Json({16, 32}) ||
                    e["conv_channels"] == spec::Json({32, 64}))
            << e.dump();
      }
      if (e.contains("nesterov")) EXPECT_EQ(e["nesterov"], true);
      if (e.contains("momentum")) {
        EXPECT_GE(e["momentum"].get<double>(), 0.5 * 0.8 - 1e-12);
        EXPECT_LE(e["momentum"].get<double>(), 0.99);
      }
      // Spec order, whatever became active.
      std::vector<std::string> keys;
      for (auto it = e.begin(); it != e.end(); ++it) keys.push_back(it.key());
      std::vector<std::string> order = {"model", "hidden", "conv_channels", "optimizer",
                                        "momentum", "nesterov", "lr"};
      order.erase(std::remove_if(order.begin(), order.end(),
                                 [&](const std::string& k) { return !e.contains(k); }),
                  order.end());
      EXPECT_EQ(keys, order) << e.dump();
    }
  }
  // Both branches were explored into.
  EXPECT_EQ(models, (std::set<std::string>{"mlp", "cnn"}));
  EXPECT_EQ(optimizers, (std::set<std::string>{"sgd", "adam"}));
}

// The run as the procedure sees it: each model's validation accuracy per epoch.
using FakeRun = testing::ScriptedRun;

std::unique_ptr<Procedure> Make(const spec::ExperimentSpec& spec) {
  auto p = MakePbtProcedure(spec);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

// Every live model trains its budget; accuracy by id here: lower ids better.
std::vector<Decision> Round(FakeRun& run, Procedure& p, std::vector<ModelId> live) {
  std::vector<Decision> last;
  for (ModelId id : live) {
    while (run.model(id).status != ModelStatus::kCompleted) {
      run.Epoch(id, 1.0 / (2 + id));
      auto d = p.OnEpochDone(run.View(), id);
      EXPECT_TRUE(d.ok());
      if (!d->empty()) {
        EXPECT_TRUE(last.empty()) << "decided twice in one round";
        last = *d;
      }
    }
  }
  return last;
}

TEST(PbtProcedureTest, AtTheBarrierTheBottomIsReplacedByCopiesOfTheTopAndTheRestExtended) {
  const spec::ExperimentSpec spec =
      Parse("{method: pbt, num_models: 8, perturbation_interval: 2}", /*epochs=*/5);
  auto p = Make(spec);
  FakeRun run;
  auto start = p->Start(run.View());
  ASSERT_TRUE(start.ok());
  ASSERT_EQ(start->size(), 8u);
  for (const Decision& d : *start) EXPECT_EQ(std::get<AddModel>(d).epochs, 2);
  run.Apply(*start);
  // Nothing is decided before the last member reaches the boundary.
  const std::vector<Decision> first = Round(run, *p, {0, 1, 2, 3, 4, 5, 6, 7});
  std::map<ModelId, int> extended;
  std::set<ModelId> stopped;
  std::vector<AddModel> added;
  for (const Decision& d : first) {
    if (const auto* x = std::get_if<ExtendModel>(&d)) extended[x->model] = x->epochs;
    if (const auto* s = std::get_if<StopModel>(&d)) stopped.insert(s->model);
    if (const auto* a = std::get_if<AddModel>(&d)) added.push_back(*a);
  }
  EXPECT_EQ(stopped, (std::set<ModelId>{6, 7}));  // the bottom 2 of 8
  EXPECT_EQ(extended, (std::map<ModelId, int>{{0, 4}, {1, 4}, {2, 4}, {3, 4}, {4, 4}, {5, 4}}));
  ASSERT_EQ(added.size(), 2u);
  for (const AddModel& a : added) {
    EXPECT_TRUE(a.warm_start_from == 0 || a.warm_start_from == 1) << a.warm_start_from;
    EXPECT_EQ(a.epochs, 2);  // from epoch 2 to the next boundary, 4
    EXPECT_NE(a.params, run.model(a.warm_start_from).params);
  }
  const std::string detail = std::get<StopModel>(first[6]).detail;
  EXPECT_EQ(detail.rfind("pbt: epoch 2: accuracy ", 0), 0u) << detail;
  EXPECT_NE(detail.find("in the bottom 2 of 8; replaced by model 8, a copy of model "),
            std::string::npos)
      << detail;
  run.Apply(first);
  ASSERT_EQ(run.size(), 10u);
  // Round 2: the clones (8, 9) rank last by id; the last stretch is 4 -> 5.
  const std::vector<Decision> second = Round(run, *p, {0, 1, 2, 3, 4, 5, 8, 9});
  std::set<ModelId> stopped2;
  for (const Decision& d : second) {
    if (const auto* s = std::get_if<StopModel>(&d)) stopped2.insert(s->model);
    if (const auto* x = std::get_if<ExtendModel>(&d)) {
      EXPECT_EQ(x->epochs, x->model < 8 ? 5 : 3);
    }
    if (const auto* a = std::get_if<AddModel>(&d)) {
      EXPECT_EQ(a->epochs, 1);
    }
  }
  EXPECT_EQ(stopped2, (std::set<ModelId>{8, 9}));
  run.Apply(second);
  // No boundary is left: the last stretch ends the run, nothing more is decided.
  EXPECT_TRUE(Round(run, *p, {0, 1, 2, 3, 4, 5, 10, 11}).empty());
}

TEST(PbtProcedureTest, ARestoredProcedureMakesTheSameDecisions) {
  const spec::ExperimentSpec spec =
      Parse("{method: pbt, num_models: 4, perturbation_interval: 1, quantile_fraction: 0.5}");
  auto a = Make(spec);
  FakeRun run;
  run.Apply(*a->Start(run.View()));
  run.Apply(Round(run, *a, {0, 1, 2, 3}));
  auto b = Make(spec);
  ASSERT_TRUE(b->RestoreState(a->SaveState()).ok());
  FakeRun copy = run;
  EXPECT_EQ(a->SaveState(), b->SaveState());
  const std::vector<Decision> da = Round(run, *a, {0, 1, 4, 5});
  const std::vector<Decision> db = Round(copy, *b, {0, 1, 4, 5});
  ASSERT_EQ(da.size(), db.size());
  ASSERT_FALSE(da.empty());
  for (size_t i = 0; i < da.size(); ++i) {
    if (const auto* x = std::get_if<AddModel>(&da[i])) {
      EXPECT_EQ(x->params, std::get<AddModel>(db[i]).params);
      EXPECT_EQ(x->warm_start_from, std::get<AddModel>(db[i]).warm_start_from);
    }
  }
  EXPECT_FALSE(b->RestoreState(spec::Json{{"round", "x"}}).ok());
}

// A finished run extended to more epochs (cerebro run --extend): the procedure restored
// under the longer spec goes on from its last round. Ranked at once where the old end is
// a boundary of the new spec; else trained on to the next boundary first.
TEST(PbtProcedureTest, AnExtendedRunGoesOnFromWhereThePopulationEnded) {
  for (int interval : {1, 2}) {
    SCOPED_TRACE("perturbation_interval " + std::to_string(interval));
    const std::string search =
        "{method: pbt, num_models: 4, perturbation_interval: " + std::to_string(interval) + "}";
    auto a = Make(Parse(search, /*epochs=*/3));
    FakeRun run;
    run.Apply(*a->Start(run.View()));
    // Rounds until the run's 3 epochs are done.
    for (;;) {
      std::vector<ModelId> live;
      for (ModelId id = 0; id < static_cast<ModelId>(run.size()); ++id) {
        if (IsLive(run.model(id).status)) live.push_back(id);
      }
      if (live.empty()) break;
      run.Apply(Round(run, *a, live));
    }
    auto b = Make(Parse(search, /*epochs=*/6));
    ASSERT_TRUE(b->RestoreState(a->SaveState()).ok());
    std::vector<ModelId> members;
    for (ModelId id = 0; id < static_cast<ModelId>(run.size()); ++id) {
      if (run.model(id).status == ModelStatus::kCompleted) members.push_back(id);
    }
    ASSERT_EQ(members.size(), 4u);
    auto d = b->OnEpochDone(run.View(), members.back());
    ASSERT_TRUE(d.ok());
    int stops = 0, adds = 0, extends = 0;
    for (const Decision& x : *d) {
      stops += std::holds_alternative<StopModel>(x);
      adds += std::holds_alternative<AddModel>(x);
      if (const auto* e = std::get_if<ExtendModel>(&x)) {
        ++extends;
        EXPECT_GT(e->epochs, run.model(e->model).epochs);
      }
    }
    if (interval == 1) {  // epoch 3 is a boundary now: the bottom one is replaced
      EXPECT_EQ(stops, 1);
      EXPECT_EQ(adds, 1);
      EXPECT_EQ(extends, 3);
    } else {  // boundaries 2, 4: on to 4 first, nobody replaced
      EXPECT_EQ(stops, 0);
      EXPECT_EQ(adds, 0);
      EXPECT_EQ(extends, 4);
      EXPECT_EQ(b->SaveState(), a->SaveState());
    }
  }
}

TEST(PbtProcedureTest, AFailedMemberLeavesThePopulationAndTheBarrierGoesOn) {
  const spec::ExperimentSpec spec = Parse("{method: pbt, num_models: 4}");
  auto p = Make(spec);
  FakeRun run;
  run.Apply(*p->Start(run.View()));
  for (ModelId id : {0, 1, 2}) {
    run.Epoch(id, 0.5);
    EXPECT_TRUE(p->OnEpochDone(run.View(), id)->empty());
  }
  FakeRun failed = run;
  // Model 3 fails: three remain, the bottom ceil(0.75) = 1 is replaced.
  Observation o = failed.View();
  o.models[3].status = ModelStatus::kFailed;
  auto d = p->OnModelEnded(o, 3);
  ASSERT_TRUE(d.ok());
  int stops = 0;
  for (const Decision& x : *d) stops += std::holds_alternative<StopModel>(x);
  EXPECT_EQ(stops, 1);
}

}  // namespace
}  // namespace cerebro::search

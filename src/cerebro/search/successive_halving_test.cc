// ASHA's and Hyperband's schedules and their decisions on scripted metric histories: the
// procedures are driven directly with observations built here, as the run loop would.
#include "cerebro/search/successive_halving.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cerebro/search/procedure_test_util.h"
#include "cerebro/search/space.h"

namespace cerebro::search {
namespace {

using testing::ScriptedRun;
using FakeRun = ScriptedRun;

spec::ExperimentSpec Parse(const std::string& search, const std::string& extra = "") {
  return testing::ParseTestSpec("  model: mlp\n  lr: {loguniform: [-4, -1]}\n",
                                "search: " + search + "\n" + extra, "seed: 11, epochs: 4");
}

// What a decision list says, compactly: "stop 1", "extend 2 to 4".
std::vector<std::string> Describe(const std::vector<Decision>& decisions) {
  std::vector<std::string> out;
  for (const Decision& d : decisions) {
    if (const auto* s = std::get_if<StopModel>(&d))
      out.push_back("stop " + std::to_string(s->model));
    if (const auto* x = std::get_if<ExtendModel>(&d)) {
      out.push_back("extend " + std::to_string(x->model) + " to " + std::to_string(x->epochs));
    }
    if (std::holds_alternative<AddModel>(d)) out.push_back("add");
  }
  return out;
}

using Strings = std::vector<std::string>;

// Runs one epoch of `id` (of `parameters` parameters, for a second objective) and returns
// what the procedure decided (applied to the run).
Strings Step(Procedure& p, FakeRun& run, ModelId id, double acc, double parameters = 0) {
  run.Epoch(id, acc, parameters);
  auto d = p.OnEpochDone(run.View(), id);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  if (!d.ok()) return {};
  run.Apply(*d);
  return Describe(*d);
}

TEST(AshaScheduleTest, RungsAreGraceTimesPowersOfTheReductionFactorUpToMaxT) {
  AshaOptions o;
  o.max_t = 16;
  EXPECT_EQ(AshaRungs(o, 0), (std::vector<double>{1, 4, 16}));
  EXPECT_EQ(AshaRungs(o, 1), (std::vector<double>{4, 16}));
  o.max_t = 15;
  EXPECT_EQ(AshaRungs(o, 0), (std::vector<double>{1, 4}));
  o.grace_period = 2;
  o.reduction_factor = 3;
  o.max_t = 18;
  EXPECT_EQ(AshaRungs(o, 0), (std::vector<double>{2, 6, 18}));
}

TEST(AshaScheduleTest, DefaultsAreRayTunesAndMaxTIsTheRunsEpochs) {
  auto o = ParseAshaOptions(Parse("{method: asha, num_models: 4}"));
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->grace_period, 1);
  EXPECT_EQ(o->reduction_factor, 4);
  EXPECT_EQ(o->max_t, 4);
  EXPECT_EQ(o->brackets, 1);
}

TEST(AshaScheduleTest, BadKnobsAreOneLineNamingTheKey) {
  const std::map<std::string, std::string> cases = {
      {"{method: asha, num_models: 4, grace: 1}",
       "search.grace: not an option of asha (expected one of grace_period, reduction_factor, "
       "max_t, brackets, sampler)"},
      {"{method: asha, num_models: 4, grace_period: 0}",
       "search.grace_period: expected an integer >= 1, got 0"},
      {"{method: asha, num_models: 4, reduction_factor: 1}",
       "search.reduction_factor: expected a number > 1, got 1"},
      {"{method: asha, num_models: 4, max_t: 2.5}",
       "search.max_t: expected an integer >= 1, got 2.5"},
      {"{method: asha, num_models: 4, grace_period: 5}",
       "search.grace_period: 5 is above max_t (4)"},
      {"{method: asha}",
       "search.num_models: asha needs num_models >= 1 (the configurations it "
       "samples)"},
      {"{method: hyperband, eta: 1.5}", "search.eta: expected a number >= 2, got 1.5"},
      {"{method: hyperband, num_models: 3}",
       "search.num_models: hyperband sizes its brackets from max_t and eta"},
      {"{method: hyperband, eta: 3, reduction_factor: 3}",
       "search.reduction_factor: the same knob as search.eta; give one"},
  };
  testing::ExpectRefused(cases, [](const std::string& s) { return Parse(s); });
}

TEST(AshaTest, StopsAModelBelowTheQuantileOfTheLowerIdsAtItsRung) {
  auto p = MakeProcedure(Parse("{method: asha, num_models: 5, reduction_factor: 2}"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  auto start = (*p)->Start(run.View());
  ASSERT_TRUE(start.ok());
  ASSERT_EQ(start->size(), 5u);
  // Rungs at 1, 2 and 4 (= max_t) epochs: a budget ends at the next rung.
  for (const Decision& d : *start) EXPECT_EQ(std::get<AddModel>(d).epochs, 1);
  run.Apply(*start);
  // Rung 1: the first model has nothing to compare with and goes on to rung 2.
  EXPECT_EQ(Step(**p, run, 0, 0.5), Strings{"extend 0 to 2"});
  EXPECT_EQ(Step(**p, run, 1, 0.4), Strings{"stop 1"});  // cutoff 0.5
  // Model 3 arrives before model 2: it waits for it, so it is judged against 2's score.
  EXPECT_EQ(Step(**p, run, 3, 0.45), Strings{});
  EXPECT_EQ(run.model(3).status, ModelStatus::kCompleted);
  EXPECT_EQ(Step(**p, run, 2, 0.6), (Strings{"extend 2 to 2", "stop 3"}));  // 0.45, then 0.5
  // No barrier: model 0 reaches rung 2 while model 4 has not reached rung 1.
  EXPECT_EQ(Step(**p, run, 0, 0.7), Strings{"extend 0 to 4"});
  EXPECT_EQ(Step(**p, run, 2, 0.65), Strings{"stop 2"});  // rung 2 recorded 0.7
  // Epoch 3 is no rung; at 4 (= max_t) the model has completed: recorded, never stopped.
  EXPECT_EQ(Step(**p, run, 0, 0.7), Strings{});
  EXPECT_EQ(Step(**p, run, 4, 0.9), Strings{"extend 4 to 2"});
  EXPECT_EQ(Step(**p, run, 4, 0.1), Strings{"stop 4"});
  EXPECT_EQ(run.model(0).status, ModelStatus::kRunning);
  EXPECT_EQ(Step(**p, run, 0, 0.2), Strings{});
  EXPECT_EQ(run.model(0).status, ModelStatus::kCompleted);
  EXPECT_EQ((*p)->SaveState()["rungs"][0][2], spec::Json::parse("[[0, 0.2]]"));
}

// Models train epochs in an order drawn from `seed` (any model that may train next), with
// accuracies a function of (model, epoch): each model's end (status, epochs, why it was
// stopped) must not depend on that order.
std::map<ModelId, std::string> AshaEnds(const spec::ExperimentSpec& spec, uint64_t seed) {
  auto p = MakeProcedure(spec);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  std::mt19937_64 rng(seed);
  std::map<ModelId, std::string> stopped;
  for (;;) {
    std::vector<ModelId> ready;
    for (ModelId id = 0; id < static_cast<ModelId>(run.size()); ++id) {
      const ModelView& m = run.model(id);
      if (IsLive(m.status) && static_cast<int>(m.history.size()) < m.epochs) ready.push_back(id);
    }
    if (ready.empty()) break;
    const ModelId id = ready[std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng)];
    const int e = static_cast<int>(run.model(id).history.size());
    run.Epoch(id, 0.3 + 0.05 * ((id * 7 + e * 3) % 11));
    auto d = (*p)->OnEpochDone(run.View(), id);
    EXPECT_TRUE(d.ok());
    for (const Decision& x : *d) {
      if (const auto* s = std::get_if<StopModel>(&x)) stopped[s->model] = s->detail;
    }
    run.Apply(*d);
  }
  std::map<ModelId, std::string> out;
  for (ModelId id = 0; id < static_cast<ModelId>(run.size()); ++id) {
    const ModelView& m = run.model(id);
    out[id] = std::string(EnumName(m.status)) + " after " + std::to_string(m.history.size()) +
              (stopped.count(id) ? ": " + stopped[id] : "");
  }
  return out;
}

TEST(AshaTest, DecisionsDoNotDependOnTheOrderModelsReachTheirRungs) {
  for (const char* search : {"{method: asha, num_models: 12, reduction_factor: 2}",
                             "{method: asha, num_models: 16, reduction_factor: 2, brackets: 2}"}) {
    SCOPED_TRACE(search);
    const spec::ExperimentSpec spec = testing::ParseTestSpec(
        "  model: mlp\n  lr: {loguniform: [-4, -1]}\n", std::string("search: ") + search + "\n",
        "seed: 11, epochs: 8");
    const std::map<ModelId, std::string> want = AshaEnds(spec, 0);
    int stopped = 0;
    for (const auto& [id, end] : want) stopped += end.rfind("stopped", 0) == 0;
    EXPECT_GT(stopped, 3);  // the schedule does decide something
    EXPECT_LT(stopped, static_cast<int>(want.size()));
    for (uint64_t seed = 1; seed < 20; ++seed) EXPECT_EQ(AshaEnds(spec, seed), want) << seed;
  }
}

TEST(AshaTest, ALossIsMinimizedAndTheStopSaysWhy) {
  auto p =
      MakeProcedure(Parse("{method: asha, num_models: 2, reduction_factor: 2}", "metric: loss\n"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  EXPECT_EQ(Step(**p, run, 0, 0.75), Strings{"extend 0 to 2"});  // loss 0.25
  run.Epoch(1, 0.5);                                             // loss 0.5: worse
  auto d = (*p)->OnEpochDone(run.View(), 1);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ(std::get<StopModel>((*d)[0]).detail,
            "asha: rung 1 epochs: loss 0.5 is below the top 1/2 (cutoff 0.25)");
}

constexpr char kAccuracyAndSize[] =
    "metric: [{name: accuracy}, {name: num_parameters, direction: minimize}]\n";

// Two objectives: a model goes on when it is in the top ceil(n / rf) of the n models at
// its rung by Pareto order (front, then crowding distance) — a small model that loses on
// accuracy is not stopped for it.
TEST(AshaTest, TwoObjectivesPromoteByNonDominatedRank) {
  auto p = MakeProcedure(Parse("{method: asha, num_models: 4, reduction_factor: 2, brackets: 1}",
                               kAccuracyAndSize));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  EXPECT_EQ(Step(**p, run, 0, 0.9, 1000), Strings{"extend 0 to 2"});
  // As large as model 0 and less accurate: dominated, rank 2 of 2, top ceil(2/2) = 1.
  EXPECT_EQ(Step(**p, run, 1, 0.8, 1000), Strings{"stop 1"});
  // Model 2 is smaller than both: front {0, 2}, 1 dominated; top ceil(3/2) = 2: goes on,
  // where the accuracy quantile (cutoff 0.85) would have stopped it.
  EXPECT_EQ(Step(**p, run, 2, 0.7, 10), Strings{"extend 2 to 2"});
  auto d = [&] {
    run.Epoch(3, 0.6, 5000);  // dominated by every other model: rank 4 of 4, top 2
    return (*p)->OnEpochDone(run.View(), 3);
  }();
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ(std::get<StopModel>((*d)[0]).detail,
            "asha: rung 1 epochs: Pareto rank 4 of 4 is below the top 1/2");
}

TEST(AshaTest, ARestoredProcedureDecidesAsTheOriginalWould) {
  const spec::ExperimentSpec spec = Parse("{method: asha, num_models: 4, reduction_factor: 2}");
  auto p = MakeProcedure(spec);
  ASSERT_TRUE(p.ok());
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  Step(**p, run, 0, 0.5);
  Step(**p, run, 1, 0.6);
  auto restored = MakeProcedure(spec);
  ASSERT_TRUE(restored.ok());
  ASSERT_TRUE((*restored)->RestoreState((*p)->SaveState()).ok());
  EXPECT_EQ((*restored)->SaveState(), (*p)->SaveState());
  FakeRun copy = run;
  EXPECT_EQ(Step(**restored, copy, 2, 0.52), Strings{"stop 2"});
  EXPECT_EQ(Step(**p, run, 2, 0.52), Strings{"stop 2"});
  EXPECT_EQ((*restored)->SaveState(), (*p)->SaveState());
  EXPECT_EQ((*restored)->RestoreState(spec::Json{{"rungs", 1}}).code(), StatusCode::kDataLoss);
}

TEST(AshaTest, AModelItDidNotAddIsLeftAlone) {
  auto p = MakeProcedure(Parse("{method: asha, num_models: 1, reduction_factor: 2}"));
  ASSERT_TRUE(p.ok());
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  run.Apply({AddModel{spec::Json::object(), 4, -1}});  // a ctl add: model 1
  EXPECT_EQ(Step(**p, run, 0, 0.9), Strings{"extend 0 to 2"});
  EXPECT_EQ(Step(**p, run, 1, 0.1), Strings{});
}

TEST(AshaTest, BracketsAreASeededDrawWeightedByTheirRungs) {
  auto a = MakeProcedure(Parse("{method: asha, num_models: 40, brackets: 2}"));
  auto b = MakeProcedure(Parse("{method: asha, num_models: 40, brackets: 2}"));
  ASSERT_TRUE(a.ok() && b.ok());
  FakeRun run_a, run_b;
  run_a.Apply(*(*a)->Start(run_a.View()));
  run_b.Apply(*(*b)->Start(run_b.View()));
  // Bracket 0 (rungs 1, 4) records a model's first epoch, bracket 1 (rung 4) does not.
  for (ModelId id = 0; id < 40; ++id) {
    Step(**a, run_a, id, 0.5);
    Step(**b, run_b, id, 0.5);
  }
  EXPECT_EQ((*a)->SaveState(), (*b)->SaveState());
  const size_t in_first = (*a)->SaveState()["rungs"][0][0].size();
  EXPECT_GT(in_first, 20u);  // weight e^0 against e^-1: about 29 of 40
  EXPECT_LT(in_first, 40u);
}

TEST(HyperbandScheduleTest, BracketsAreThePapersForMaxT81AndEta3) {
  HyperbandOptions o;
  o.max_t = 81;
  const std::vector<HyperbandBracket> b = HyperbandBrackets(o);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0].models, (std::vector<int>{81, 27, 9, 3, 1}));
  EXPECT_EQ(b[0].epochs, (std::vector<int>{1, 3, 9, 27, 81}));
  EXPECT_EQ(b[1].models, (std::vector<int>{34, 11, 3, 1}));
  EXPECT_EQ(b[1].epochs, (std::vector<int>{3, 9, 27, 81}));
  EXPECT_EQ(b[2].models, (std::vector<int>{15, 5, 1}));
  EXPECT_EQ(b[3].models, (std::vector<int>{8, 2}));
  EXPECT_EQ(b[3].epochs, (std::vector<int>{27, 81}));
  EXPECT_EQ(b[4].models, (std::vector<int>{5}));
  EXPECT_EQ(b[4].epochs, (std::vector<int>{81}));
}

TEST(HyperbandScheduleTest, BudgetsThatAreNotPowersOfEtaAreFlooredAndEndAtMaxT) {
  HyperbandOptions o;
  o.max_t = 10;
  const std::vector<HyperbandBracket> b = HyperbandBrackets(o);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].epochs, (std::vector<int>{1, 3, 10}));
  EXPECT_EQ(b[0].models, (std::vector<int>{9, 3, 1}));
  EXPECT_EQ(b[1].epochs, (std::vector<int>{3, 10}));
  EXPECT_EQ(b[1].models, (std::vector<int>{5, 1}));
  EXPECT_EQ(b[2].epochs, (std::vector<int>{10}));
}

// max_t 4, eta 2: brackets 4 models @1 -> 2 @2 -> 1 @4; 3 @2 -> 1 @4; 3 @4.
class HyperbandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = MakeProcedure(Parse("{method: hyperband, eta: 2}"));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    p_ = std::move(p).value();
    auto start = p_->Start(run_.View());
    ASSERT_TRUE(start.ok());
    std::vector<int> epochs;
    for (const Decision& d : *start) epochs.push_back(std::get<AddModel>(d).epochs);
    ASSERT_EQ(epochs, (std::vector<int>{1, 1, 1, 1, 2, 2, 2, 4, 4, 4}));
    run_.Apply(*start);
  }
  std::unique_ptr<Procedure> p_;
  FakeRun run_;
};

TEST_F(HyperbandTest, ARungIsDecidedWhenItsLastModelCompletesAndKeepsTheTopOneOverEta) {
  EXPECT_EQ(Step(*p_, run_, 0, 0.3), Strings{});
  EXPECT_EQ(Step(*p_, run_, 1, 0.8), Strings{});
  EXPECT_EQ(Step(*p_, run_, 2, 0.5), Strings{});
  EXPECT_EQ(Step(*p_, run_, 3, 0.6),
            (Strings{"extend 1 to 2", "extend 3 to 2", "stop 2", "stop 0"}));
  EXPECT_EQ(run_.model(0).status, ModelStatus::kStopped);
  EXPECT_EQ(run_.model(1).status, ModelStatus::kRunning);
  EXPECT_EQ(Step(*p_, run_, 1, 0.7), Strings{});
  EXPECT_EQ(Step(*p_, run_, 3, 0.75), (Strings{"extend 3 to 4", "stop 1"}));
  EXPECT_EQ(Step(*p_, run_, 3, 0.8), Strings{});
  EXPECT_EQ(Step(*p_, run_, 3, 0.8), Strings{});  // the bracket's last rung: nothing more
  EXPECT_EQ(run_.model(3).status, ModelStatus::kCompleted);
}

// The first rung of bracket 2 keeps 2 of its 4 models: by accuracy that would be 0 and 2;
// by Pareto order the front is {0, 1, 2} and its extremes 0 and 1 (the most accurate and
// the smallest) win the crowding tie-break over 2, between them.
TEST(HyperbandParetoTest, TwoObjectivesKeepTheTopByFrontThenCrowding) {
  auto p = MakeProcedure(Parse("{method: hyperband, eta: 2}", kAccuracyAndSize));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  run.Apply(*(*p)->Start(run.View()));
  EXPECT_EQ(Step(**p, run, 0, 0.9, 1000), Strings{});
  EXPECT_EQ(Step(**p, run, 1, 0.7, 100), Strings{});
  EXPECT_EQ(Step(**p, run, 2, 0.85, 500), Strings{});
  run.Epoch(3, 0.8, 2000);  // dominated by 0 and 2
  auto d = (*p)->OnEpochDone(run.View(), 3);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(Describe(*d), (Strings{"extend 0 to 2", "extend 1 to 2", "stop 2", "stop 3"}));
  EXPECT_EQ(std::get<StopModel>((*d)[3]).detail,
            "hyperband: bracket 2, rung 1 epochs: not in the top 2 of 4 by Pareto rank");
}

TEST_F(HyperbandTest, AFailedModelIsNotWaitedForNorPromoted) {
  Step(*p_, run_, 4, 0.5);
  Step(*p_, run_, 4, 0.4);
  Step(*p_, run_, 5, 0.6);
  EXPECT_EQ(Step(*p_, run_, 5, 0.55), Strings{});  // model 6 has not trained yet
  run_.Fail(6);
  // The rung is decided at the next epoch any model finishes (here one of another bracket).
  EXPECT_EQ(Step(*p_, run_, 7, 0.9), (Strings{"extend 5 to 4", "stop 4"}));
}

TEST_F(HyperbandTest, ARestoredProcedureDecidesAsTheOriginalWould) {
  Step(*p_, run_, 0, 0.3);
  Step(*p_, run_, 1, 0.8);
  Step(*p_, run_, 2, 0.5);
  auto restored = MakeProcedure(Parse("{method: hyperband, eta: 2}"));
  ASSERT_TRUE(restored.ok());
  ASSERT_TRUE((*restored)->RestoreState(p_->SaveState()).ok());
  EXPECT_EQ((*restored)->SaveState(), p_->SaveState());
  EXPECT_EQ(Step(**restored, run_, 3, 0.6),
            (Strings{"extend 1 to 2", "extend 3 to 2", "stop 2", "stop 0"}));
  EXPECT_EQ((*restored)->RestoreState(spec::Json{{"brackets", spec::Json::array()}}).code(),
            StatusCode::kDataLoss);
}

// ---- search.sampler ---------------------------------------------------------------------

spec::ExperimentSpec ParseGrid(const std::string& search,
                               const std::string& lr = "{choice: [0.1, 0.01]}") {
  return testing::ParseTestSpec(
      "  model: mlp\n  lr: " + lr + "\n  batch_size: {choice: [32, 64, 128]}\n",
      "search: " + search + "\n", "seed: 11, epochs: 4");
}

std::vector<spec::Json> AddedParams(const std::vector<Decision>& decisions) {
  std::vector<spec::Json> out;
  for (const Decision& d : decisions) {
    if (const auto* a = std::get_if<AddModel>(&d)) out.push_back(a->params);
  }
  return out;
}

std::vector<spec::Json> GridOf(const spec::ExperimentSpec& spec) {
  spec::ExperimentSpec grid = spec;
  grid.search.method = spec::SearchMethod::kGrid;
  grid.search.num_models = 0;
  grid.search.options = spec::Json::object();
  auto configs = GenerateConfigs(grid);
  EXPECT_TRUE(configs.ok()) << configs.status().ToString();
  std::vector<spec::Json> out;
  for (const ModelConfig& c : *configs) out.push_back(c.params);
  return out;
}

TEST(SamplerTest, AshaWithTheGridSamplerAddsTheGridsConfigurationsInGridOrder) {
  for (const std::string search : {"{method: asha, sampler: grid}",
                                   "{method: asha, sampler: grid, num_models: 6, brackets: 2}"}) {
    auto p = MakeProcedure(ParseGrid(search));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    FakeRun run;
    auto start = (*p)->Start(run.View());
    ASSERT_TRUE(start.ok());
    const std::vector<spec::Json> added = AddedParams(*start);
    ASSERT_EQ(added.size(), 6u) << search;
    EXPECT_EQ(added, GridOf(ParseGrid(search))) << search;
    EXPECT_EQ(added[1], (spec::Json{{"model", "mlp"}, {"lr", 0.1}, {"batch_size", 64}}));
  }
}

TEST(SamplerTest, TheRandomSamplerIsTheDefaultAndUnchanged) {
  auto implicit = MakeProcedure(Parse("{method: asha, num_models: 5}"));
  auto explicit_ = MakeProcedure(Parse("{method: asha, num_models: 5, sampler: random}"));
  ASSERT_TRUE(implicit.ok() && explicit_.ok());
  FakeRun run;
  EXPECT_EQ(AddedParams(*(*implicit)->Start(run.View())),
            AddedParams(*(*explicit_)->Start(run.View())));
}

// max_t 4, eta 2: 4 + 3 + 3 = 10 models; a 5 x 2 grid fits them.
TEST(SamplerTest, HyperbandsBracketsTakeTheGridsConfigurationsInOrder) {
  const std::string search = "{method: hyperband, eta: 2, sampler: grid}";
  auto spec = testing::ParseTestSpec(
      "  model: mlp\n  lr: {choice: [0.1, 0.03, 0.01, 0.003, 0.001]}\n"
      "  batch_size: {choice: [32, 64]}\n",
      "search: " + search + "\n", "seed: 11, epochs: 4");
  auto p = MakeProcedure(spec);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  FakeRun run;
  auto start = (*p)->Start(run.View());
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(AddedParams(*start), GridOf(spec));
  std::vector<int> epochs;
  for (const Decision& d : *start) epochs.push_back(std::get<AddModel>(d).epochs);
  EXPECT_EQ(epochs, (std::vector<int>{1, 1, 1, 1, 2, 2, 2, 4, 4, 4}));
}

TEST(SamplerTest, BadSamplersAndCombinationsAreOneLine) {
  const std::map<std::string, std::string> cases = {
      {"{method: asha, sampler: sobol}",
       "search.sampler: expected random, grid or tpe, got \"sobol\""},
      {"{method: asha, sampler: grid, num_models: 5}",
       "search.num_models: 5 differs from the grid's 6 configurations (search.sampler: grid; "
       "leave num_models out)"},
      {"{method: hyperband, eta: 2, sampler: grid}",
       "search.sampler: grid has 6 configurations but hyperband's brackets (max_t 4, eta 2) "
       "take 10"},
      {"{method: hyperband, eta: 2, sampler: random, num_models: 6}",
       "search.num_models: hyperband sizes its brackets from max_t and eta"},
  };
  testing::ExpectRefused(cases, [](const std::string& s) { return ParseGrid(s); });
  auto p = MakeProcedure(ParseGrid("{method: asha, sampler: grid}", "{loguniform: [-4, -1]}"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "search.sampler: grid needs 'choice' params (params.lr is 'loguniform'); use sampler "
            "random or tpe");
}

TEST(ExtendsCompletedModelsTest, HyperbandAndAshaDo) {
  EXPECT_EQ(ExtendsCompletedModelsBelow(Parse("{method: hyperband, max_t: 9}")), 9);
  EXPECT_EQ(ExtendsCompletedModelsBelow(Parse("{method: asha, num_models: 2}")), 4);
  EXPECT_EQ(ExtendsCompletedModelsBelow(Parse("{method: random, num_models: 2}")), 0);
}

}  // namespace
}  // namespace cerebro::search

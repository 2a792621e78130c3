// search.sampler: tpe (BOHB-like) for ASHA and Hyperband on scripted metric histories: the
// procedures are driven directly, one epoch at a time, as the run loop would drive them.
#include "cerebro/search/bohb.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>
#include <string>

#include "cerebro/search/procedure_test_util.h"
#include "cerebro/search/successive_halving.h"

namespace cerebro::search {
namespace {

using spec::Json;
using testing::ScriptedRun;

// One searched param (n_min = 2): accuracy peaks at x = 0.8 and grows with epochs.
spec::ExperimentSpec Parse(const std::string& search,
                           const std::string& run = "seed: 5, epochs: 4") {
  return testing::ParseTestSpec("  model: mlp\n  x: {uniform: [0, 1]}\n",
                                "search: " + search + "\n", run);
}

double Accuracy(const ModelView& m) {
  return 0.9 - std::abs(m.params["x"].get<double>() - 0.8) + 0.01 * m.history.size();
}

// What a decision batch says: "add x=0.123 @1", "stop 3", "extend 2 to 4".
std::vector<std::string> Describe(const std::vector<Decision>& decisions) {
  std::vector<std::string> out;
  for (const Decision& d : decisions) {
    if (const auto* a = std::get_if<AddModel>(&d)) {
      out.push_back("add " + a->params.dump() + " @" + std::to_string(a->epochs));
    } else if (const auto* s = std::get_if<StopModel>(&d)) {
      out.push_back("stop " + std::to_string(s->model));
    } else {
      const auto& x = std::get<ExtendModel>(d);
      out.push_back("extend " + std::to_string(x.model) + " to " + std::to_string(x.epochs));
    }
  }
  return out;
}

struct Drive {
  std::vector<std::string> log;  // every decision, in order
  ScriptedRun run;
  int slots = 1;
  Observation View() const {
    Observation o = run.View();
    o.slots = slots;
    return o;
  }
  void Apply(const StatusOr<std::vector<Decision>>& d) {
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    run.Apply(*d);
    for (const std::string& s : Describe(*d)) log.push_back(s);
  }
  // The lowest-id live model trains one epoch; false when none is live.
  bool Step(Procedure& p) {
    const Observation o = View();
    for (const ModelView& m : o.models) {
      if (!IsLive(m.status)) continue;
      run.Epoch(m.id, Accuracy(m));
      Apply(p.OnEpochDone(View(), m.id));
      return true;
    }
    return false;
  }
};

std::unique_ptr<Procedure> Make(const spec::ExperimentSpec& spec) {
  auto p = MakeProcedure(spec);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(p).value() : nullptr;
}

// Runs `spec` to the end (restoring a fresh procedure from the saved state after every
// `restore_every` steps when > 0) and returns the drive.
Drive RunToEnd(const spec::ExperimentSpec& spec, int slots, int restore_every = 0) {
  Drive d;
  d.slots = slots;
  std::unique_ptr<Procedure> p = Make(spec);
  d.Apply(p->Start(d.View()));
  for (int step = 1; d.Step(*p); ++step) {
    if (restore_every > 0 && step % restore_every == 0) {
      std::unique_ptr<Procedure> fresh = Make(spec);
      const Json state = Json::parse(p->SaveState().dump());  // as the journal keeps it
      EXPECT_TRUE(fresh->RestoreState(state).ok());
      EXPECT_EQ(fresh->SaveState(), p->SaveState());
      p = std::move(fresh);
    }
  }
  return d;
}

double MeanDistance(const ScriptedRun& run, ModelId from, ModelId to) {
  double sum = 0;
  for (ModelId id = from; id < to; ++id)
    sum += std::abs(run.model(id).params["x"].get<double>() - 0.8);
  return sum / static_cast<double>(to - from);
}

TEST(BohbAshaTest, KeepsSlotsPlusAMarginRunnableAndAddsAsModelsStop) {
  const auto spec = Parse("{method: asha, sampler: tpe, num_models: 20, reduction_factor: 2}");
  for (const auto& [slots, target] : std::map<int, size_t>{{1, 2}, {4, 6}, {8, 11}}) {
    Drive d;
    d.slots = slots;
    auto p = Make(spec);
    d.Apply(p->Start(d.View()));
    EXPECT_EQ(d.run.size(), target) << slots << " slots";
  }
  // One slot (two runnable): model 0, the first at rung 1, goes on, so nothing is added;
  // model 1 is below it there and stops, so one model is added in its place.
  Drive d;
  auto p = Make(spec);
  d.Apply(p->Start(d.View()));
  d.run.Epoch(0, 0.8);
  auto out = p->OnEpochDone(d.View(), 0);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Describe(*out), std::vector<std::string>{"extend 0 to 2"});
  d.Apply(out);
  d.run.Epoch(1, 0.5);
  out = p->OnEpochDone(d.View(), 1);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u) << ::testing::PrintToString(Describe(*out));
  EXPECT_EQ(Describe(*out)[0], "stop 1");
  EXPECT_EQ(Describe(*out)[1].rfind("add ", 0), 0u);
  EXPECT_EQ(Describe(*out)[1].substr(Describe(*out)[1].size() - 3), " @1");
}

TEST(BohbAshaTest, AddsExactlyNumModelsAndEveryModelEnds) {
  const Drive d = RunToEnd(
      Parse("{method: asha, sampler: tpe, num_models: 30, reduction_factor: 2}"), /*slots=*/2);
  EXPECT_EQ(d.run.size(), 30u);
  for (ModelId id = 0; id < 30; ++id) EXPECT_FALSE(IsLive(d.run.model(id).status)) << id;
}

// After its startup trials TPE proposes near the scripted optimum (x = 0.8); uniform
// draws average |x - 0.8| = 0.34.
TEST(BohbAshaTest, AfterStartupProposalsConcentrateNearTheGoodRegion) {
  const Drive tpe =
      RunToEnd(Parse("{method: asha, sampler: tpe, num_models: 60, reduction_factor: 2, "
                     "n_startup_trials: 10}"),
               /*slots=*/1);
  const Drive random =
      RunToEnd(Parse("{method: asha, num_models: 60, reduction_factor: 2}"), /*slots=*/1);
  std::printf("mean |x - 0.8|: tpe %.3f (startup) %.3f (20..59), random %.3f\n",
              MeanDistance(tpe.run, 0, 10), MeanDistance(tpe.run, 20, 60),
              MeanDistance(random.run, 20, 60));
  EXPECT_LT(MeanDistance(tpe.run, 20, 60), 0.15);
  EXPECT_GT(MeanDistance(random.run, 20, 60), 0.2);
}

TEST(BohbAshaTest, ARestoredProcedureDecidesAsTheUninterruptedOne) {
  const auto spec = Parse(
      "{method: asha, sampler: tpe, num_models: 24, reduction_factor: 2, "
      "brackets: 2, n_startup_trials: 4}");
  const Drive whole = RunToEnd(spec, 3);
  for (int every : {1, 5}) EXPECT_EQ(RunToEnd(spec, 3, every).log, whole.log) << every;
  auto p = Make(spec);
  EXPECT_EQ(p->RestoreState(Json{{"first_id", 0}, {"rungs", Json::array()}}).code(),
            StatusCode::kDataLoss);
}

TEST(BohbSamplerTest, FitsAtTheLargestBudgetWithEnoughResults) {
  const auto spec = Parse("{method: asha, sampler: tpe, num_models: 8}");
  BohbSampler bohb(spec, TpeOptions{}, {1, 4, 2, 4});
  EXPECT_EQ(bohb.n_min(), 2u);
  ScriptedRun run;
  std::vector<Decision> adds;
  for (int i = 0; i < 3; ++i)
    adds.push_back(AddModel{Json{{"model", "mlp"}, {"x", 0.1 * i}}, 4, -1});
  run.Apply(adds);
  EXPECT_EQ(bohb.Budget(run.View()), 0);
  run.Epoch(0, 0.5);
  EXPECT_EQ(bohb.Budget(run.View()), 0);  // one result: fewer than n_min
  run.Epoch(1, 0.6);
  EXPECT_EQ(bohb.Budget(run.View()), 1);
  run.Epoch(0, 0.6);
  run.Epoch(0, 0.6);
  run.Epoch(1, 0.6);
  EXPECT_EQ(bohb.Budget(run.View()), 2);
  run.Fail(1);  // its results stay results
  EXPECT_EQ(bohb.Budget(run.View()), 2);
}

// The constant liar: a pending proposal is a "bad" observation, so the next proposal
// moves; without it the pending one is ignored. And before any budget has n_min results
// a proposal is the random one of its index.
TEST(BohbSamplerTest, PendingModelsCountAsTheConstantLiarSays) {
  const auto spec = Parse("{method: asha, sampler: tpe, num_models: 40}");
  TpeOptions startup_done;
  startup_done.n_startup_trials = 0;
  TpeOptions no_liar = startup_done;
  no_liar.constant_liar = false;
  const BohbSampler liar(spec, startup_done, {1});
  const BohbSampler honest(spec, no_liar, {1});
  ScriptedRun run;
  EXPECT_EQ(liar.Propose(run.View(), {}, 7), honest.Propose(run.View(), {}, 7));
  std::vector<Decision> adds;
  for (int i = 0; i < 12; ++i) {
    adds.push_back(AddModel{Json{{"model", "mlp"}, {"x", i / 12.0}}, 1, -1});
  }
  run.Apply(adds);
  for (ModelId id = 0; id < 12; ++id) run.Epoch(id, Accuracy(run.model(id)));
  const Json pending = liar.Propose(run.View(), {}, 20);
  EXPECT_EQ(honest.Propose(run.View(), {}, 20), pending);  // nothing in flight yet
  EXPECT_EQ(honest.Propose(run.View(), {&pending}, 20), pending);
  EXPECT_NE(liar.Propose(run.View(), {&pending}, 20), pending);
}

// max_t 4, eta 2: brackets of 4 @1, 3 @2, 3 @4 first-rung models.
TEST(BohbHyperbandTest, FillsTheBracketsLazilyInOrderAndDecidesFullRungsOnly) {
  const auto spec = Parse("{method: hyperband, eta: 2, sampler: tpe}");
  Drive d;
  auto p = Make(spec);
  d.Apply(p->Start(d.View()));
  ASSERT_EQ(d.log.size(), 2u);
  EXPECT_NE(d.log[0].find(" @1"), std::string::npos);
  for (ModelId id : {0, 1}) {
    d.run.Epoch(id, 0.5);
    d.Apply(p->OnEpochDone(d.View(), id));
  }
  // Rung 1 of bracket 0 has 2 of its 4 models: not decided; two more proposed.
  EXPECT_EQ(d.run.size(), 4u);
  for (const std::string& s : d.log) EXPECT_EQ(s.rfind("add ", 0), 0u) << s;
  while (d.Step(*p)) {
  }
  EXPECT_EQ(d.run.size(), 10u);
  int at_max = 0;
  for (ModelId id = 0; id < 10; ++id) {
    EXPECT_FALSE(IsLive(d.run.model(id).status));
    at_max += d.run.model(id).history.size() == 4;
  }
  EXPECT_EQ(at_max, 1 + 1 + 3);      // each bracket's survivors train to max_t
  std::vector<std::string> budgets;  // of the adds, in order: the brackets' first rungs
  for (const std::string& s : d.log) {
    if (s.rfind("add ", 0) == 0) budgets.push_back(s.substr(s.find(" @") + 2));
  }
  EXPECT_EQ(budgets, (std::vector<std::string>{"1", "1", "1", "1", "2", "2", "2", "4", "4", "4"}));
}

TEST(BohbHyperbandTest, ARestoredProcedureDecidesAsTheUninterruptedOne) {
  const auto spec =
      Parse("{method: hyperband, eta: 2, sampler: tpe, n_startup_trials: 3}", "seed: 5, epochs: 8");
  const Drive whole = RunToEnd(spec, 2);
  EXPECT_EQ(RunToEnd(spec, 2, 1).log, whole.log);
  auto p = Make(spec);
  EXPECT_EQ(p->RestoreState(Json{{"brackets", p->SaveState()["brackets"]}}).code(),
            StatusCode::kDataLoss);  // no "proposed"
}

// examples/fashion_mnist/bohb.yaml, without touching its data files: hyperband's 17
// configurations, proposed a few at a time.
TEST(BohbTest, TheExampleSpecIsHyperbandFedByTpe) {
  std::ifstream in(std::string(CEREBRO_SOURCE_DIR) + "/examples/fashion_mnist/bohb.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto s = spec::ParseSpecString(text.str(), "bohb.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto o = ParseHyperbandOptions(*s);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->sampler, Sampler::kTpe);
  EXPECT_EQ(o->tpe.n_startup_trials, 6);
  Drive d;
  d.slots = 2;
  auto p = Make(*s);
  ASSERT_NE(p, nullptr);
  d.Apply(p->Start(d.View()));
  EXPECT_EQ(d.run.size(), 3u);  // the 2 workers' and one more
}

TEST(BohbTest, BadKnobsAreOneLine) {
  const std::map<std::string, std::string> cases = {
      {"{method: asha, sampler: tpe}",
       "search.num_models: asha needs num_models >= 1 (the configurations it samples)"},
      {"{method: asha, num_models: 4, n_startup_trials: 3}",
       "search.n_startup_trials: only used with search.sampler: tpe"},
      {"{method: hyperband, sampler: grid, multivariate: true}",
       "search.multivariate: only used with search.sampler: tpe"},
      {"{method: asha, sampler: tpe, num_models: 4, n_ei_candidates: 0}",
       "search.n_ei_candidates: expected a positive integer, got 0"},
      {"{method: asha, sampler: tpe, num_models: 4, in_flight: 2}",
       "search.in_flight: not an option of asha (expected one of grace_period, "
       "reduction_factor, max_t, brackets, sampler, n_startup_trials, n_ei_candidates, "
       "prior_weight, multivariate, constant_liar, consider_magic_clip, consider_endpoints)"},
      {"{method: hyperband, sampler: tpe, num_models: 4}",
       "search.num_models: hyperband sizes its brackets from max_t and eta"},
  };
  testing::ExpectRefused(cases, [](const std::string& s) { return Parse(s); });
}

}  // namespace
}  // namespace cerebro::search

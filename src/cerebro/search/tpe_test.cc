#include "cerebro/search/tpe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <random>
#include <set>

#include "cerebro/common/rng.h"
#include "cerebro/search/space.h"

namespace cerebro::search {
namespace {

using spec::Json;

constexpr char kBranin[] = "  model: mlp\n  x1: {uniform: [-5, 10]}\n  x2: {uniform: [0, 15]}\n";
constexpr char kMixed[] =
    "  model: mlp\n  lr: {loguniform: [-5, -1]}\n  batch_size: {quniform: [32, 512, 32]}\n"
    "  activation: {choice: [relu, tanh, gelu]}\n  dropout: {uniform: [0.0, 0.5]}\n"
    "  hidden: {qloguniform: [1, 3, 8]}\n";

spec::ExperimentSpec Parse(const std::string& params, const std::string& search,
                           uint64_t seed = 3) {
  const std::string text =
      "data:\n  format: csv\n  train: /tmp/x.csv\n  validation: {fraction: 0.2}\n"
      "params:\n" +
      params + "search: " + search +
      "\nmetric: {name: loss}\nrun: {epochs: 1, seed: " + std::to_string(seed) + "}\n";
  auto s = spec::ParseSpecString(text, "t.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

double Branin(const Json& p) {
  const double x1 = p["x1"].get<double>(), x2 = p["x2"].get<double>();
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

double Mixed(const Json& p) {
  const double lr = std::log10(p["lr"].get<double>()) + 3;
  const double bs = (p["batch_size"].get<double>() - 128) / 128;
  const double act = p["activation"] == "tanh" ? 0 : 1;
  const double hidden = std::log10(p["hidden"].get<double>()) - 2;
  return lr * lr + bs * bs + act + hidden * hidden + p["dropout"].get<double>();
}

// A run without training: models finish in the order they were added, each after one
// epoch whose validation loss is `objective(params)`. `swap_after` > 0 replaces the
// procedure by a fresh one restored from its (serialized) state after that many models.
struct FakeRun {
  Observation run;
  std::deque<ModelId> in_flight;
  std::vector<Json> proposed;

  void Apply(const StatusOr<std::vector<Decision>>& decisions) {
    ASSERT_TRUE(decisions.ok()) << decisions.status().ToString();
    for (const Decision& d : *decisions) {
      const auto& add = std::get<AddModel>(d);
      EXPECT_EQ(add.epochs, 1);
      ModelView m;
      m.id = static_cast<ModelId>(run.models.size());
      m.params = add.params;
      m.status = ModelStatus::kPending;
      m.epochs = add.epochs;
      run.models.push_back(m);
      in_flight.push_back(m.id);
      proposed.push_back(add.params);
    }
  }
  // Finishes the `nth` oldest model in flight; `as_accuracy` reports -objective as accuracy.
  ModelId FinishOne(const std::function<double(const Json&)>& objective, bool as_accuracy = false,
                    size_t nth = 0) {
    const ModelId id = in_flight[nth];
    in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(nth));
    ModelView& m = run.models[static_cast<size_t>(id)];
    const double f = objective(m.params);
    m.history.push_back({1, 0, 0, as_accuracy ? 0 : f, as_accuracy ? -f : 0});
    m.status = ModelStatus::kCompleted;
    return id;
  }
  static FakeRun Started(Procedure& p, int slots) {
    FakeRun r;
    r.run.slots = slots;
    r.Apply(p.Start(r.run));
    return r;
  }
};

std::unique_ptr<Procedure> Make(const spec::ExperimentSpec& s) {
  auto p = MakeProcedure(s);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

// `finish_seed` > 0 finishes models in a random order instead of oldest first.
std::vector<Json> Drive(const spec::ExperimentSpec& s, const std::function<double(const Json&)>& f,
                        int slots, int swap_after = 0, uint64_t finish_seed = 0) {
  std::unique_ptr<Procedure> p = Make(s);
  FakeRun r = FakeRun::Started(*p, slots);
  std::mt19937_64 order(finish_seed);
  for (int done = 1; !r.in_flight.empty(); ++done) {
    const size_t nth = finish_seed > 0 ? UniformBelow(order, r.in_flight.size()) : 0;
    const ModelId id = r.FinishOne(f, false, nth);
    r.Apply(p->OnEpochDone(r.run, id));
    if (done == swap_after) {
      const Json state = Json::parse(p->SaveState().dump());
      p = Make(s);
      EXPECT_TRUE(p->RestoreState(state).ok());
    }
  }
  return r.proposed;
}

double Best(const std::vector<Json>& params, const std::function<double(const Json&)>& f) {
  double best = INFINITY;
  for (const Json& p : params) best = std::min(best, f(p));
  return best;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(TpeTest, ProposesInFlightModelsThenOnePerFinishedModel) {
  for (const auto& [search, in_flight] :
       {std::pair<std::string, size_t>{"{method: tpe, num_models: 20}", 4},  // max(4, workers)
        {"{method: tpe, num_models: 20, in_flight: 3}", 3}}) {
    std::unique_ptr<Procedure> p = Make(Parse(kBranin, search));
    FakeRun r = FakeRun::Started(*p, 2);
    EXPECT_EQ(r.proposed.size(), in_flight);
    while (!r.in_flight.empty()) {
      const size_t before = r.proposed.size();
      const ModelId id = r.FinishOne(Branin);
      r.Apply(p->OnEpochDone(r.run, id));
      EXPECT_EQ(r.proposed.size(), std::min<size_t>(before + 1, 20));
    }
    EXPECT_EQ(r.proposed.size(), 20u);
    EXPECT_EQ(p->SaveState(), (Json{{"proposed", 20}}));
  }
}

TEST(TpeTest, WaitsForTheOldestModelInFlight) {
  std::unique_ptr<Procedure> p = Make(Parse(kBranin, "{method: tpe, num_models: 20}"));
  FakeRun r = FakeRun::Started(*p, 2);
  const ModelId newest = r.FinishOne(Branin, false, 3);
  r.Apply(p->OnEpochDone(r.run, newest));
  EXPECT_EQ(r.proposed.size(), 4u);  // model 0 still trains
  const ModelId oldest = r.FinishOne(Branin);
  r.Apply(p->OnEpochDone(r.run, oldest));
  EXPECT_EQ(r.proposed.size(), 5u);
}

TEST(TpeTest, AFailedModelFreesItsPlace) {
  std::unique_ptr<Procedure> p = Make(Parse(kBranin, "{method: tpe, num_models: 10}"));
  FakeRun r = FakeRun::Started(*p, 2);
  r.run.models[0].status = ModelStatus::kFailed;  // the loop asks nothing for a failure
  r.in_flight.pop_front();
  const ModelId id = r.FinishOne(Branin);
  r.Apply(p->OnEpochDone(r.run, id));
  EXPECT_EQ(r.proposed.size(), 6u);  // one for the failed model, one for the finished one
}

TEST(TpeTest, DecisionsDoNotDependOnFinishOrderOrWorkers) {
  auto one = Parse(kMixed, "{method: tpe, num_models: 30, n_startup_trials: 5}");
  one.run.workers = 1;
  auto two = one;
  two.run.workers = 2;
  const auto reference = Json(Drive(one, Mixed, 1));
  EXPECT_EQ(Json(Drive(two, Mixed, 2)), reference);
  for (uint64_t order : {1, 2, 3}) EXPECT_EQ(Json(Drive(two, Mixed, 2, 0, order)), reference);
}

TEST(TpeTest, SameSeedSameProposalsOtherSeedOthers) {
  for (int slots : {1, 2}) {
    auto a = Drive(Parse(kMixed, "{method: tpe, num_models: 30}", 5), Mixed, slots);
    auto b = Drive(Parse(kMixed, "{method: tpe, num_models: 30}", 5), Mixed, slots);
    auto c = Drive(Parse(kMixed, "{method: tpe, num_models: 30}", 6), Mixed, slots);
    ASSERT_EQ(a.size(), 30u);
    EXPECT_EQ(Json(a), Json(b));
    EXPECT_NE(Json(a), Json(c));
  }
}

TEST(TpeTest, RestoredStateGivesTheSameLaterProposals) {
  for (const char* search :
       {"{method: tpe, num_models: 25, n_startup_trials: 5}",
        "{method: tpe, num_models: 25, n_startup_trials: 5, multivariate: true}"}) {
    auto s = Parse(kMixed, search);
    const auto whole = Drive(s, Mixed, 2);
    for (int cut : {3, 12, 20}) EXPECT_EQ(Json(Drive(s, Mixed, 2, cut)), Json(whole)) << cut;
  }
}

TEST(TpeTest, ProposalsStayInTheSpaceWithTheSpacesTypes) {
  const auto proposed =
      Drive(Parse(kMixed, "{method: tpe, num_models: 40, n_startup_trials: 4}"), Mixed, 2);
  for (const Json& p : proposed) {
    EXPECT_EQ(p["model"], "mlp");
    EXPECT_GE(p["lr"].get<double>(), 1e-5);
    EXPECT_LE(p["lr"].get<double>(), 1e-1);
    ASSERT_TRUE(p["batch_size"].is_number_integer()) << p.dump();
    EXPECT_EQ(p["batch_size"].get<int>() % 32, 0);
    EXPECT_GE(p["batch_size"].get<int>(), 32);
    EXPECT_LE(p["batch_size"].get<int>(), 512);
    ASSERT_TRUE(p["hidden"].is_number_integer()) << p.dump();
    EXPECT_EQ(p["hidden"].get<int>() % 8, 0);
    EXPECT_GE(p["hidden"].get<int>(), 16);
    EXPECT_LE(p["hidden"].get<int>(), 1000);
    EXPECT_TRUE(
        std::set<std::string>({"relu", "tanh", "gelu"}).count(p["activation"].get<std::string>()));
    EXPECT_GE(p["dropout"].get<double>(), 0.0);
    EXPECT_LE(p["dropout"].get<double>(), 0.5);
    // The spec's order, fixed values included.
    std::vector<std::string> keys;
    for (auto it = p.begin(); it != p.end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"model", "lr", "batch_size", "activation", "dropout",
                                              "hidden"}));
  }
}

// kernel_size and conv_channels exist only for cnn, momentum only for sgd.
constexpr char kConditional[] =
    "  model: {choice: [mlp, cnn]}\n  conv_channels: {when: {model: cnn}, choice: [8, 16, 32]}\n"
    "  kernel_size: {when: {model: cnn}, quniform: [3, 7, 2]}\n"
    "  optimizer: {choice: [sgd, adam]}\n"
    "  momentum: {when: {optimizer: sgd}, uniform: [0.0, 0.99]}\n  lr: {loguniform: [-4, -1]}\n";

// Best: cnn, 16 channels, kernel 3, sgd with momentum near 0.9, lr near 1e-2.
double Conditional(const Json& p) {
  const double lr = std::log10(p["lr"].get<double>()) + 2;
  double f = lr * lr;
  if (p["model"] == "cnn") {
    f += p["conv_channels"] == 16 ? 0 : 0.5;
    f += (p["kernel_size"].get<double>() - 3) / 4;
  } else {
    f += 1;
  }
  if (p["optimizer"] == "sgd") f += std::fabs(p["momentum"].get<double>() - 0.9);
  return p["optimizer"] == "sgd" ? f : f + 0.5;
}

TEST(TpeTest, AConditionalParamIsProposedOnlyWhenItsConditionHolds) {
  for (const char* knobs : {"", ", multivariate: true"}) {
    const auto proposed = Drive(
        Parse(kConditional, std::string("{method: tpe, num_models: 40, n_startup_trials: 6") +
                                knobs + "}"),
        Conditional, 2);
    ASSERT_EQ(proposed.size(), 40u);
    std::set<std::string> models, optimizers;
    for (const Json& p : proposed) {
      const bool cnn = p["model"] == "cnn";
      EXPECT_EQ(p.contains("conv_channels"), cnn) << knobs << p.dump();
      EXPECT_EQ(p.contains("kernel_size"), cnn) << knobs << p.dump();
      EXPECT_EQ(p.contains("momentum"), p["optimizer"] == "sgd") << knobs << p.dump();
      if (cnn) {
        ASSERT_TRUE(p["kernel_size"].is_number_integer()) << p.dump();
        EXPECT_GE(p["kernel_size"].get<int>(), 3);
        EXPECT_LE(p["kernel_size"].get<int>(), 7);
      }
      models.insert(p["model"].get<std::string>());
      optimizers.insert(p["optimizer"].get<std::string>());
    }
    EXPECT_EQ(models.size(), 2u) << knobs;
    EXPECT_EQ(optimizers.size(), 2u) << knobs;
  }
}

// The synthetic objectives are cheap, so this compares whole searches: over several seeds
// TPE's median best beats random search's with the same number of models.
void ExpectBeatsRandom(const char* space, const std::function<double(const Json&)>& f,
                       const std::string& knobs) {
  std::vector<double> tpe, random;
  for (uint64_t seed = 1; seed <= 9; ++seed) {
    tpe.push_back(
        Best(Drive(Parse(space, "{method: tpe, num_models: 48" + knobs + "}", seed), f, 2), f));
    auto configs = GenerateConfigs(Parse(space, "{method: random, num_models: 48}", seed));
    ASSERT_TRUE(configs.ok());
    std::vector<Json> params;
    for (const ModelConfig& c : *configs) params.push_back(c.params);
    random.push_back(Best(params, f));
  }
  EXPECT_LT(Median(tpe), Median(random)) << "tpe " << Median(tpe) << " random " << Median(random);
}

TEST(TpeTest, BeatsRandomSearchOnBranin) { ExpectBeatsRandom(kBranin, Branin, ""); }
TEST(TpeTest, BeatsRandomSearchOnAMixedSpace) { ExpectBeatsRandom(kMixed, Mixed, ""); }
TEST(TpeTest, MultivariateBeatsRandomSearchOnAMixedSpace) {
  ExpectBeatsRandom(kMixed, Mixed, ", multivariate: true");
}

TEST(TpeTest, MaximizedMetricIsNegated) {
  // accuracy is maximized: feeding -Branin as accuracy must search like Branin as loss.
  auto loss = Parse(kBranin, "{method: tpe, num_models: 20}");
  auto acc = loss;
  acc.metric = {"accuracy", spec::Direction::kMaximize};
  std::unique_ptr<Procedure> p = Make(acc);
  FakeRun r = FakeRun::Started(*p, 1);
  while (!r.in_flight.empty()) {
    const ModelId id = r.FinishOne(Branin, /*as_accuracy=*/true);
    r.Apply(p->OnEpochDone(r.run, id));
  }
  EXPECT_EQ(Json(r.proposed), Json(Drive(loss, Branin, 1)));
}

TEST(TpeTest, ModelsOutsideTheSpaceAreLeftOutOfTheEstimate) {
  // A model added by hand (ctl add) may hold values the space does not have; TPE learns
  // from the parameters it can place and proposes within the space.
  std::unique_ptr<Procedure> p = Make(Parse(kMixed,
                                            "{method: tpe, num_models: 8, in_flight: 1, "
                                            "n_startup_trials: 1}"));
  FakeRun r = FakeRun::Started(*p, 1);
  ModelView odd;
  odd.id = 1;
  odd.params = Json{{"model", "mlp"},      {"lr", 0.5},      {"batch_size", 100},
                    {"activation", "elu"}, {"dropout", 0.1}, {"hidden", 7}};
  odd.status = ModelStatus::kPending;
  r.run.models.push_back(odd);
  r.in_flight.push_back(odd.id);
  while (!r.in_flight.empty()) r.Apply(p->OnEpochDone(r.run, r.FinishOne(Mixed)));
  ASSERT_EQ(r.proposed.size(), 8u);
  for (const Json& params : r.proposed) {
    EXPECT_LE(params["lr"].get<double>(), 1e-1);
    EXPECT_NE(params["activation"], "elu");
  }
}

TEST(TpeSamplerTest, ProposalIsAFunctionOfTrialsAndIndex) {
  // What a TPE-fed Hyperband would use: it keeps the counter, the sampler nothing.
  const auto s = Parse(kBranin, "{method: tpe, num_models: 30}");
  auto options = ParseTpeOptions(s.search.options);
  ASSERT_TRUE(options.ok());
  const TpeSampler sampler(s, *options);
  FakeRun r;
  for (int i = 0; i < 12; ++i) {
    ModelView m;
    m.id = i;
    m.params = sampler.Propose({}, static_cast<uint64_t>(i));  // nothing finished: random
    m.status = i < 10 ? ModelStatus::kCompleted : ModelStatus::kRunning;
    if (i < 10) m.history.push_back({1, 0, 0, Branin(m.params), 0});
    r.run.models.push_back(m);
  }
  std::vector<TpeTrial> trials;
  for (const ModelView& m : r.run.models) trials.push_back(*TpeTrialOf(m, s.metric));
  EXPECT_EQ(trials[11].state, TpeTrial::State::kRunning);
  const Json a = sampler.Propose(trials, 12);
  EXPECT_EQ(a, sampler.Propose(trials, 12));
  EXPECT_NE(a, sampler.Propose(trials, 13));
  EXPECT_EQ(a, TpeSampler(s, *options).Propose(trials, 12));
  ModelView failed;
  failed.status = ModelStatus::kFailed;
  EXPECT_FALSE(TpeTrialOf(failed, s.metric).has_value());
}

// MOTPE's split: 20 finished trials make gamma = 2. The first front is {0, 1, 2}; it
// straddles the cut, and crowding distance keeps its extremes 0 and 1 (by the first loss
// alone the good group would be 0 and 2). In-flight trials and stopped ones, however good,
// stay out while completed ones fill the group.
TEST(TpeSplitTest, TwoObjectivesSplitByNonDominatedSortingThenCrowding) {
  const Json params = Json{{"x", 1}};
  std::vector<TpeTrial> trials;
  auto add = [&](TpeTrial::State state, double a, double b) {
    TpeTrial t{&params, state, a, 1, {a, b}};
    if (state == TpeTrial::State::kRunning) t.losses.clear();
    trials.push_back(t);
  };
  add(TpeTrial::State::kComplete, 0, 10);
  add(TpeTrial::State::kComplete, 10, 0);
  add(TpeTrial::State::kComplete, 5, 5);
  for (int i = 0; i < 16; ++i) add(TpeTrial::State::kComplete, 20 + i, 20 + i);
  add(TpeTrial::State::kStopped, -1, -1);   // dominates everything, but was stopped
  add(TpeTrial::State::kRunning, -5, -5);   // in flight: bad whatever it holds
  std::vector<const TpeTrial*> below, above;
  TpeSplit(trials, &below, &above);
  ASSERT_EQ(below.size(), 2u);
  EXPECT_EQ(below[0], &trials[0]);
  EXPECT_EQ(below[1], &trials[1]);
  EXPECT_EQ(above.size(), trials.size() - 2);
  // One objective (no `losses`): by loss, 0 and 2.
  for (TpeTrial& t : trials) t.losses.clear();
  below.clear();
  above.clear();
  TpeSplit(trials, &below, &above);
  ASSERT_EQ(below.size(), 2u);
  EXPECT_EQ(below[0], &trials[0]);
  EXPECT_EQ(below[1], &trials[2]);
}

TEST(TpeSplitTest, TrialsOfTwoObjectivesCarryEachLossMinimized) {
  ModelView m;
  m.params = Json{{"x", 1}};
  m.status = ModelStatus::kCompleted;
  EpochMetrics e;
  e.epoch = 1;
  e.val_accuracy = 0.75;
  e.num_parameters = 300;
  m.history.push_back(e);
  const std::vector<spec::MetricSpec> objectives = {
      {"accuracy", spec::Direction::kMaximize}, {"num_parameters", spec::Direction::kMinimize}};
  std::optional<TpeTrial> t = TpeTrialOf(m, objectives);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->loss, -0.75);
  EXPECT_EQ(t->losses, (std::vector<double>{-0.75, 300}));
  EXPECT_TRUE(TpeTrialOf(m, {objectives[0]})->losses.empty());
  m.status = ModelStatus::kRunning;
  EXPECT_TRUE(TpeTrialOf(m, objectives)->losses.empty());
}

// MOTPE end to end: loss (x1 - 0)^2 and "size" (x1 - 5)^2 trade off along x1 in [0, 5],
// the Pareto set. After the random start, clearly more proposals land there than random
// search's (about a third), and the run is a function of the seed.
TEST(TpeTest, TwoObjectivesProposeAlongTheParetoSet) {
  spec::ExperimentSpec s = Parse(kBranin, "{method: tpe, num_models: 40, in_flight: 1}");
  s.objectives = {{"loss", spec::Direction::kMinimize},
                  {"num_parameters", spec::Direction::kMinimize}};
  ASSERT_TRUE(spec::Validate(s).ok());
  spec::ExperimentSpec random = s;  // the same draws, never the model
  random.search.options["n_startup_trials"] = 40;
  auto drive = [&](const spec::ExperimentSpec& s) {
    std::unique_ptr<Procedure> p = Make(s);
    FakeRun r = FakeRun::Started(*p, 1);
    while (!r.in_flight.empty()) {
      const ModelId id = r.in_flight.front();
      r.in_flight.pop_front();
      ModelView& m = r.run.models[static_cast<size_t>(id)];
      const double x1 = m.params["x1"].get<double>();
      EpochMetrics e;
      e.epoch = 1;
      e.val_loss = x1 * x1;
      e.num_parameters = (x1 - 5) * (x1 - 5);
      m.history.push_back(e);
      m.status = ModelStatus::kCompleted;
      r.Apply(p->OnEpochDone(r.run, id));
    }
    return r.proposed;
  };
  auto on_front = [](const std::vector<Json>& proposed) {
    int n = 0;
    for (size_t i = 10; i < proposed.size(); ++i) {
      const double x1 = proposed[i]["x1"].get<double>();
      if (x1 >= 0 && x1 <= 5) ++n;
    }
    return n;
  };
  const std::vector<Json> proposed = drive(s);
  ASSERT_EQ(proposed.size(), 40u);
  const int motpe = on_front(proposed), by_chance = on_front(drive(random));
  EXPECT_GE(motpe, by_chance + 5) << motpe << " vs " << by_chance << " of 30";
  EXPECT_EQ(Json(drive(s)), Json(proposed));
}

TEST(TpeTest, BadKnobsAreOneLineNamingTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"{method: tpe, num_models: 5, n_ei_candidates: 0}", "search.n_ei_candidates"},
      {"{method: tpe, num_models: 5, n_startup_trials: -1}", "search.n_startup_trials"},
      {"{method: tpe, num_models: 5, n_startup_trials: ten}", "search.n_startup_trials"},
      {"{method: tpe, num_models: 5, prior_weight: 0}", "search.prior_weight"},
      {"{method: tpe, num_models: 5, multivariate: 1}", "search.multivariate"},
      {"{method: tpe, num_models: 5, gama: 0.1}", "search.gama: unknown key"},
      {"{method: tpe}", "search.num_models"},
  };
  for (const auto& [search, expected] : cases) {
    auto p = MakeProcedure(Parse(kBranin, search));
    ASSERT_FALSE(p.ok()) << search;
    const std::string msg = p.status().ToString();
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_NE(msg.find("t.yaml"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(TpeTest, RefusesAStateItDidNotWrite) {
  std::unique_ptr<Procedure> p = Make(Parse(kBranin, "{method: tpe, num_models: 5}"));
  EXPECT_TRUE(p->RestoreState(nullptr).ok());
  EXPECT_FALSE(p->RestoreState(Json{{"proposed", -1}}).ok());
  EXPECT_FALSE(p->RestoreState(Json::array()).ok());
  EXPECT_FALSE(p->RestoreState(Json{{"count", 3}}).ok());
}

}  // namespace
}  // namespace cerebro::search

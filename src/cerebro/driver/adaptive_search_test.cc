// The adaptive procedures (search/successive_halving.h) through the run loop on the fake
// backend: their stops and extensions land in the journal and the summary, and a run
// killed at any journal append resumes to the uninterrupted run's end state. The fake's
// metrics rank lower model ids better at every epoch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/search/successive_halving.h"
#include "cerebro/store/journal.h"

namespace cerebro::driver {
namespace {

// 4 epochs, 2 workers, order fixed; `search` is the spec's search section. keep_best 1:
// Hyperband extends completed models that retention alone would have dropped.
spec::ExperimentSpec AdaptiveSpec(const std::string& csv, const std::string& search) {
  std::string text =
      "name: adaptive\ndata: {format: csv, train: {path: " + csv +
      ", header: true, label_column: label}, validation: {fraction: 0.25}}\n"
      "params: {model: mlp, hidden: [4], lr: {loguniform: [-3, -1]}, batch_size: 8}\n"
      "search: " +
      search +
      "\n"
      "run: {epochs: 4, workers: 2, order: fixed, seed: 5, keep_best: 1}\n";
  auto s = spec::ParseSpecString(text, "adaptive.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

struct Actions {
  std::vector<std::pair<ModelId, int>> extended;  // (model, new budget), in journal order
  std::map<ModelId, std::string> stopped;         // detail
};

Actions ProcedureActions(const std::string& run_dir) {
  Actions out;
  for (const store::Record& rec : JournalOf(run_dir)) {
    const auto* d = std::get_if<store::ProcedureDecision>(&rec);
    if (d == nullptr) continue;
    for (const store::Action& a : d->actions) {
      if (const auto* x = std::get_if<store::ModelExtended>(&a))
        out.extended.push_back({x->model, x->epochs});
      if (const auto* s = std::get_if<store::ModelStopped>(&a)) {
        EXPECT_EQ(s->reason, store::StopReason::kProcedure);
        out.stopped[s->model] = s->detail;
      }
    }
  }
  return out;
}

std::vector<std::pair<ModelId, int>> Sorted(std::vector<std::pair<ModelId, int>> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// max_t 4, eta 2: bracket 2 trains models 0-3 for 1 epoch, then 0 and 1 to 2, then 0 to
// 4; bracket 1 trains 4-6 for 2, then 4 to 4; bracket 0 trains 7-9 for 4.
TEST(HyperbandRunTest, RungsArePromotedByExtendingAndTheRestStoppedInJournalAndSummary) {
  TempDir tmp;
  auto r = RunExperiment(AdaptiveSpec(WriteCsv(tmp), "{method: hyperband, eta: 2}"),
                         FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 10u);
  const std::map<ModelId, std::pair<ModelStatus, size_t>> expected = {
      {0, {ModelStatus::kCompleted, 4}}, {1, {ModelStatus::kStopped, 2}},
      {2, {ModelStatus::kStopped, 1}},   {3, {ModelStatus::kStopped, 1}},
      {4, {ModelStatus::kCompleted, 4}}, {5, {ModelStatus::kStopped, 2}},
      {6, {ModelStatus::kStopped, 2}},   {7, {ModelStatus::kCompleted, 4}},
      {8, {ModelStatus::kCompleted, 4}}, {9, {ModelStatus::kCompleted, 4}}};
  for (const auto& [id, want] : expected) {
    SCOPED_TRACE("model " + std::to_string(id));
    EXPECT_EQ(ById(*r, id).status, want.first);
    EXPECT_EQ(ById(*r, id).history.size(), want.second);
  }
  EXPECT_EQ(ById(*r, 2).failure, "hyperband: bracket 2, rung 1 epochs: not in the top 2 of 4");
  EXPECT_EQ(ById(*r, 1).failure, "hyperband: bracket 2, rung 2 epochs: not in the top 1 of 2");
  const Actions a = ProcedureActions(r->run_dir);
  EXPECT_EQ(Sorted(a.extended),
            (std::vector<std::pair<ModelId, int>>{{0, 2}, {0, 4}, {1, 2}, {4, 4}}));
  EXPECT_EQ(a.stopped.size(), 5u);
  EXPECT_EQ(a.stopped.at(5), "hyperband: bracket 1, rung 2 epochs: not in the top 1 of 3");
  // summary.json says the same.
  const std::string summary = Slurp(r->run_dir + "/summary.json");
  EXPECT_NE(summary.find("not in the top 2 of 4"), std::string::npos);
}

TEST(AshaRunTest, AModelBelowItsRungsQuantileIsStoppedAsItReachesTheRung) {
  TempDir tmp;
  auto r = RunExperiment(
      AdaptiveSpec(WriteCsv(tmp), "{method: asha, num_models: 4, reduction_factor: 2}"),
      FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 4u);
  // Model 0 ranks first at every rung: never stopped, it is promoted from rung to rung
  // (1, 2, 4 epochs) by extending its budget, and trains to max_t.
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  EXPECT_EQ(ById(*r, 0).history.size(), 4u);
  const Actions a = ProcedureActions(r->run_dir);
  EXPECT_EQ(a.extended, (std::vector<std::pair<ModelId, int>>{{0, 2}, {0, 4}}));
  ASSERT_FALSE(a.stopped.empty());
  for (const auto& [id, detail] : a.stopped) {
    SCOPED_TRACE("model " + std::to_string(id));
    EXPECT_EQ(ById(*r, id).status, ModelStatus::kStopped);
    EXPECT_EQ(ById(*r, id).failure, detail);
    EXPECT_EQ(detail.rfind("asha: rung ", 0), 0u) << detail;
    EXPECT_LT(ById(*r, id).history.size(), 4u);
  }
}

// Kills the run at journal appends (every few, and at and right after each decision) and
// resumes it. Decisions journaled before the kill are read back, never made again, and
// the run reaches the uninterrupted run's metrics, statuses and decisions: Hyperband's
// rungs are barriers, and ASHA's rungs take results in model-id order, not arrival order.
void ExpectResumes(const std::string& search, bool same_end_state) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  FailingAppends counting = CrashAtAppend(-1);
  RunOptions ref_options = FakeOptions(tmp.Join("reference"), nullptr);
  ref_options.fs = &counting;
  auto reference = RunExperiment(AdaptiveSpec(csv, search), ref_options);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const std::string metrics = Slurp(reference->run_dir + "/metrics.csv");
  const int records = counting.appends();
  std::set<int> crashes;
  const std::vector<store::Record> journal = JournalOf(reference->run_dir);
  // Append k wrote journal record k - 1 + offset (the header, if any, was not appended).
  const int offset = static_cast<int>(journal.size()) - records;
  ASSERT_GE(offset, 0);
  for (int i = 3; i <= records; ++i) {
    const bool decision = std::holds_alternative<store::ProcedureDecision>(journal[i - 1 + offset]);
    if (i % 5 == 0 || decision) crashes.insert(i);
    if (decision && i < records) crashes.insert(i + 1);
  }
  const Actions want = ProcedureActions(reference->run_dir);
  for (int crash : crashes) {
    SCOPED_TRACE("crash at journal append " + std::to_string(crash));
    const std::string dir = tmp.Join("run" + std::to_string(crash));
    FailingAppends fs = CrashAtAppend(crash);
    RunOptions o = FakeOptions(dir, nullptr);
    o.fs = &fs;
    ASSERT_FALSE(RunExperiment(AdaptiveSpec(csv, search), o).ok());
    const Actions before = ProcedureActions(dir);
    auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Actions got = ProcedureActions(dir);
    for (const auto& [id, detail] : before.stopped) EXPECT_EQ(got.stopped.at(id), detail);
    ASSERT_LE(before.extended.size(), got.extended.size());
    EXPECT_TRUE(std::equal(before.extended.begin(), before.extended.end(), got.extended.begin()));
    for (const auto& [id, detail] : got.stopped) EXPECT_EQ(ById(*r, id).failure, detail);
    if (!same_end_state) continue;
    EXPECT_EQ(Slurp(dir + "/metrics.csv"), metrics);
    ExpectSameOutcomes(*r, *reference);
    // Brackets are independent: the order of their decisions may interleave differently.
    EXPECT_EQ(Sorted(got.extended), Sorted(want.extended));
    EXPECT_EQ(got.stopped, want.stopped);
  }
}

TEST(HyperbandRunTest, AKilledRunResumesToTheUninterruptedEndState) {
  ExpectResumes("{method: hyperband, eta: 2}", /*same_end_state=*/true);
}

// TPE re-derives every proposal from the seed, a counter and the observations, with a
// fixed number of proposals ahead of results (search/tpe.h): a resume proposes the same.
TEST(TpeRunTest, AKilledRunResumesToTheUninterruptedEndState) {
  ExpectResumes("{method: tpe, num_models: 6, n_startup_trials: 2}", /*same_end_state=*/true);
}

// search.sampler: grid (search/successive_halving.h): the grid's configurations, in grid
// order, are the run's models.
TEST(AshaRunTest, TheGridSamplerTrainsTheGridsConfigurations) {
  TempDir tmp;
  spec::ExperimentSpec s =
      AdaptiveSpec(WriteCsv(tmp), "{method: asha, sampler: grid, reduction_factor: 2}");
  for (spec::Param& p : s.params) {
    if (p.name != "lr") continue;
    p.dist.kind = spec::Distribution::Kind::kChoice;
    p.dist.choices = {0.1, 0.03, 0.01};
  }
  auto r = RunExperiment(s, FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 3u);
  const std::vector<double> lrs = {0.1, 0.03, 0.01};
  for (ModelId id = 0; id < 3; ++id) EXPECT_EQ(ById(*r, id).params["lr"], lrs[id]);
  EXPECT_EQ(ProcedureActions(r->run_dir).stopped.size(), 2u);  // below model 0 at rung 1
}

// search.sampler: tpe (BOHB-like): models are proposed as the run goes, each decision
// journaled with the procedure's state, so a killed run resumes with the decisions it had
// made and ends with every model proposed.
TEST(AshaRunTest, TheTpeSamplerProposesAsTheRunGoesAndResumes) {
  TempDir tmp;
  auto r = RunExperiment(AdaptiveSpec(WriteCsv(tmp), "{method: asha, sampler: tpe, "
                                                     "num_models: 8, reduction_factor: 2, "
                                                     "n_startup_trials: 2}"),
                         FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->models.size(), 8u);
  int adding = 0;  // decisions after the start that added models
  for (const store::Record& rec : JournalOf(r->run_dir)) {
    const auto* d = std::get_if<store::ProcedureDecision>(&rec);
    if (d == nullptr || d->epochs_seen == 0) continue;
    adding += std::any_of(d->actions.begin(), d->actions.end(), [](const store::Action& a) {
      return std::holds_alternative<store::ModelAdded>(a);
    });
  }
  EXPECT_GT(adding, 0);
  ExpectResumes(
      "{method: asha, sampler: tpe, num_models: 6, reduction_factor: 2, n_startup_trials: 2}",
      /*same_end_state=*/true);
}

// Hyperband's brackets filled lazily by TPE: every bracket's models, and a killed run
// resumes to the uninterrupted end state.
TEST(HyperbandRunTest, TheTpeSamplerFillsTheBracketsAndResumes) {
  TempDir tmp;
  auto r = RunExperiment(
      AdaptiveSpec(WriteCsv(tmp), "{method: hyperband, eta: 2, sampler: tpe, n_startup_trials: 2}"),
      FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->models.size(), 10u);
  ExpectResumes("{method: hyperband, eta: 2, sampler: tpe, n_startup_trials: 2}",
                /*same_end_state=*/true);
}

TEST(AshaRunTest, AKilledRunResumesToTheUninterruptedEndState) {
  ExpectResumes("{method: asha, num_models: 4, reduction_factor: 2}", /*same_end_state=*/true);
}

// ASHA under MOP trains the lowest-id runnable model first (successive_halving.h:
// TrainsLowestIdFirst): model 0, best at every rung (the fake ranks lower ids better),
// is promoted at once and trains on while the newcomers take turns on the other worker,
// as Ray Tune's FIFO trials do, instead of waiting for every model to cross rung 1.
// With the random greedy order its last unit came after nearly every other model's.
TEST(AshaRunTest, APromotedModelTrainsOnWhileTheNewcomersTakeTheOtherWorker) {
  TempDir tmp;
  spec::ExperimentSpec s = AdaptiveSpec(
      WriteCsv(tmp), "{method: asha, num_models: 8, reduction_factor: 2, grace_period: 1}");
  s.run.order = spec::Order::kRandom;  // the default; the policy matters most there
  auto r = RunExperiment(s, FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(ById(*r, 0).history.size(), 4u);
  // Where (among the run's units, in journal order) each model's last unit landed.
  std::map<ModelId, int> last;
  int units = 0;
  for (const store::Record& rec : JournalOf(r->run_dir)) {
    if (const auto* u = std::get_if<store::UnitDone>(&rec)) last[u->model] = units++;
  }
  ASSERT_EQ(last.size(), 8u);
  // Model 7, the last newcomer, is stopped at rung 1 (every model after 0 ranks below the
  // rung's median): model 0 had trained all 4 epochs before it got there. With the random
  // greedy order model 0's last unit was the run's last (position 43 of 44: it reached
  // each rung after the newcomers, which crossed rung 1 together).
  EXPECT_EQ(ById(*r, 7).status, ModelStatus::kStopped);
  EXPECT_LT(last.at(0), last.at(7)) << "of " << units << " units";
}

// Accuracies that do not follow the model id (so who reaches a rung first matters to an
// arrival-order rule): a function of (model, epoch) and the partition's size only.
exec::FakeUnitResult MixedResult(const exec::UnitRequest& request) {
  const sched::Unit& u = request.unit;
  exec::FakeUnitResult r;
  r.num_examples = 100 + 10 * u.partition;
  const double n = static_cast<double>(r.num_examples);
  const int q = (u.model * 7 + u.epoch * 3) % 11;
  r.correct = std::floor(n * (0.3 + 0.05 * q));
  r.loss_sum = n * (1.0 - 0.05 * q);
  r.compute_seconds = 0.001;
  return r;
}

// The guarantee ASHA gives (search/successive_halving.cc): its stops and promotions are a
// function of the models' metrics, whatever the worker count and the order units
// complete in; with order: fixed each model's metrics are then the same as well.
TEST(AshaRunTest, OneWorkerOrTwoInAnyCompletionOrderMakeTheSameDecisions) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto spec = [&](int workers) {
    spec::ExperimentSpec s = AdaptiveSpec(
        csv, "{method: asha, num_models: 8, reduction_factor: 2, grace_period: 1}");
    s.run.workers = workers;
    s.run.partitions = 2;
    s.run.keep_best = 8;
    return s;
  };
  auto options = [&](const std::string& name, exec::FakeCompletionOrder order) {
    RunOptions o = FakeOptions(tmp.Join(name), nullptr);
    o.backend_factory = [order](const exec::BackendConfig&)
        -> StatusOr<std::unique_ptr<exec::Backend>> {
      exec::FakeBackendOptions f;
      f.result = MixedResult;
      f.order = order;
      return std::unique_ptr<exec::Backend>(std::make_unique<exec::FakeBackend>(f));
    };
    return o;
  };
  auto want = RunExperiment(spec(1), options("one", exec::FifoOrder()));
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const Actions want_actions = ProcedureActions(want->run_dir);
  ASSERT_FALSE(want_actions.stopped.empty());
  ASSERT_FALSE(want_actions.extended.empty());
  const std::vector<std::pair<std::string, exec::FakeCompletionOrder>> orders = {
      {"fifo", exec::FifoOrder()}, {"lifo", exec::LifoOrder()},
      {"seeded3", exec::SeededOrder(3)}, {"seeded8", exec::SeededOrder(8)}};
  for (const auto& [name, order] : orders) {
    SCOPED_TRACE(name);
    auto got = RunExperiment(spec(2), options(name, order));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSameOutcomes(*got, *want);
    const Actions a = ProcedureActions(got->run_dir);
    EXPECT_EQ(Sorted(a.extended), Sorted(want_actions.extended));
    EXPECT_EQ(a.stopped, want_actions.stopped);
    for (const auto& m : want->models) {
      const auto& h = ById(*got, m.id).history;
      ASSERT_EQ(h.size(), m.history.size()) << "model " << m.id;
      for (size_t e = 0; e < h.size(); ++e) {
        EXPECT_EQ(h[e].val_accuracy, m.history[e].val_accuracy) << "model " << m.id;
        EXPECT_EQ(h[e].train_loss, m.history[e].train_loss) << "model " << m.id;
      }
    }
  }
}

}  // namespace
}  // namespace cerebro::driver

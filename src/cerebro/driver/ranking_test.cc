// The ranking rule with two objectives (driver/ranking.h), on outcomes built by hand and
// through the run loop on the fake backend, whose accuracy ranks lower model ids better.
#include "cerebro/driver/ranking.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/driver/run_status.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/summary.h"

namespace cerebro::driver {
namespace {

store::ModelOutcome Model(int id, ModelStatus status, double accuracy, int64_t parameters) {
  store::ModelOutcome m;
  m.id = id;
  m.status = status;
  m.num_parameters = parameters;
  store::EpochRow r;
  r.model_id = id;
  r.epoch = 1;
  r.val_accuracy = accuracy;
  r.val_loss = 1 - accuracy;
  r.seconds = 0.5;
  r.train_examples = 100;
  if (status != ModelStatus::kPending) m.history.push_back(r);
  return m;
}

std::vector<int> Ids(const std::vector<store::ModelOutcome>& models) {
  std::vector<int> ids;
  for (const auto& m : models) ids.push_back(m.id);
  return ids;
}

const std::vector<spec::MetricSpec> kAccuracyAndSize = {
    {"accuracy", spec::Direction::kMaximize}, {"num_parameters", spec::Direction::kMinimize}};

TEST(RankingTest, TwoObjectivesRankByFrontThenTheFirstObjective) {
  std::vector<store::ModelOutcome> models = {
      Model(0, ModelStatus::kCompleted, 0.80, 5000),  // dominated by 1: front 1
      Model(1, ModelStatus::kCompleted, 0.85, 1000),  // front 0
      Model(2, ModelStatus::kCompleted, 0.90, 9000),  // front 0, best accuracy
      Model(3, ModelStatus::kFailed, 0.99, 10),       // failed: last, whatever its metrics
      Model(4, ModelStatus::kPending, 0, 0),          // no epoch yet
      Model(5, ModelStatus::kStopped, 0.70, 100),     // front 0, smallest
      Model(6, ModelStatus::kCompleted, 0.70, 100),   // equal to 5: front 0, completed first
      Model(7, ModelStatus::kStopped, 0.60, 6000),    // dominated by 0: front 2
  };
  const std::vector<int> front = RankModels(&models, kAccuracyAndSize);
  EXPECT_EQ(Ids(models), (std::vector<int>{2, 1, 6, 5, 0, 7, 4, 3}));
  EXPECT_EQ(front, (std::vector<int>{2, 1, 6, 5}));
  for (size_t i = 0; i < models.size(); ++i) EXPECT_EQ(models[i].rank, static_cast<int>(i) + 1);
  // One objective ranks as the single-metric rule; its "front" is the best value's models.
  std::vector<store::ModelOutcome> single = models, again = models;
  const std::vector<int> best =
      RankModels(&single, {{"num_parameters", spec::Direction::kMinimize}});
  RankModels(&again, "num_parameters", spec::Direction::kMinimize);
  EXPECT_EQ(Ids(single), Ids(again));
  EXPECT_EQ(best, (std::vector<int>{6, 5}));
}

TEST(RankingTest, MetricsReadTheRowOrTheModel) {
  const store::ModelOutcome m = Model(0, ModelStatus::kCompleted, 0.8, 1234);
  EXPECT_EQ(MetricOf(m, "accuracy"), 0.8);
  EXPECT_EQ(MetricOf(m, "num_parameters"), 1234);
  EXPECT_EQ(MetricOf(m, "seconds_per_example"), 0.005);
  EXPECT_EQ(MetricOf(m.history.back(), "num_parameters"), 0);  // a row does not know it
}

// Runs `sections` (params, search, metric and run, as YAML lines) over the fake backend in
// `tmp`/run and returns the summary it wrote.
StatusOr<store::Summary> RunAndSummarize(const TempDir& tmp, const std::string& sections) {
  const std::string text = "name: pareto\ndata: {format: csv, train: {path: " + WriteCsv(tmp) +
                           ", header: true, label_column: label}, validation: {fraction: 0.25}}\n" +
                           sections;
  ASSIGN_OR_RETURN(spec::ExperimentSpec spec, spec::ParseSpecString(text, "pareto.yaml"));
  RETURN_IF_ERROR(RunExperiment(spec, FakeOptions(tmp.Join("run"), nullptr)).status());
  return store::ReadSummary(&RealFileSystem(), tmp.Join("run"));
}

// hidden [8], [4], [16] are models 0, 1, 2 (4 features, 3 classes: 67, 35 and 131
// parameters); the fake ranks their accuracy 0 > 1 > 2, so 2 is dominated by both.
TEST(RankingRunTest, TheSummaryReportsTheParetoFrontAndEachModelsSize) {
  TempDir tmp;
  auto summary = RunAndSummarize(
      tmp,
      "params: {model: mlp, hidden: {choice: [[8], [4], [16]]}, batch_size: 8}\n"
      "metric: [{name: accuracy}, {name: num_parameters, direction: minimize}]\n"
      "run: {epochs: 2, workers: 2, order: fixed, seed: 5}\n");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->pareto_front, (std::vector<int>{0, 1}));
  ASSERT_EQ(summary->objectives.size(), 2u);
  EXPECT_EQ(summary->objectives[1].name, "num_parameters");
  EXPECT_EQ(Ids(summary->models), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(summary->models[0].num_parameters, 67);
  EXPECT_EQ(summary->models[1].num_parameters, 35);
  EXPECT_EQ(summary->models[2].num_parameters, 131);
  EXPECT_EQ(summary->best_model, 0);
  // `cerebro status` replays the journal and counts the same sizes.
  auto status = ReadRunStatus(tmp.Join("run"), &RealFileSystem());
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  ASSERT_EQ(Ids(status->models), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(status->models[1].num_parameters, 35);
}

// ASHA on two objectives through the run loop: the procedure sees each model's size
// (RunState::Observe) and stops by Pareto rank, and no model of the summary's front is
// dominated by a model that finished an epoch.
TEST(RankingRunTest, AshaOnTwoObjectivesStopsByParetoRankAndReportsANonDominatedFront) {
  TempDir tmp;
  auto summary = RunAndSummarize(
      tmp,
      "params: {model: mlp, hidden: {choice: [[2], [4], [8], [16], [32]]}, batch_size: 8}\n"
      "search: {method: asha, num_models: 8, reduction_factor: 2}\n"
      "metric: [accuracy, num_parameters]\n"
      "run: {epochs: 4, workers: 2, order: fixed, seed: 3}\n");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  int stops = 0;
  for (const store::Record& rec : JournalOf(tmp.Join("run"))) {
    const auto* d = std::get_if<store::ProcedureDecision>(&rec);
    if (d == nullptr) continue;
    for (const store::Action& a : d->actions) {
      if (const auto* s = std::get_if<store::ModelStopped>(&a)) {
        ++stops;
        EXPECT_NE(s->detail.find("Pareto rank"), std::string::npos) << s->detail;
      }
    }
  }
  EXPECT_GT(stops, 0);
  ASSERT_FALSE(summary->pareto_front.empty());
  for (const store::ModelOutcome& m : summary->models) EXPECT_GT(m.num_parameters, 0) << m.id;
  auto dominates = [](const store::ModelOutcome& a, const store::ModelOutcome& b) {
    const double aa = a.history.back().val_accuracy, ba = b.history.back().val_accuracy;
    return aa >= ba && a.num_parameters <= b.num_parameters &&
           (aa > ba || a.num_parameters < b.num_parameters);
  };
  for (int id : summary->pareto_front) {
    const auto& f = *std::find_if(summary->models.begin(), summary->models.end(),
                                  [&](const store::ModelOutcome& m) { return m.id == id; });
    for (const store::ModelOutcome& m : summary->models) {
      if (!m.history.empty()) EXPECT_FALSE(dominates(m, f)) << m.id << " dominates " << id;
    }
  }
}

}  // namespace
}  // namespace cerebro::driver

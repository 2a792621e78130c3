// PBT (search/pbt.h) through the run loop on the fake backend: the bottom of the
// population is stopped and replaced by warm-started copies of the top, the lineage is in
// the journal and the summary, and a run killed at any journal append resumes to the
// uninterrupted run's end state.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/store/journal.h"

namespace cerebro::driver {
namespace {

// A scripted objective that a copy inherits: a unit scores as DefaultFakeResult would
// score the model its state started from (the first marker in the state; lower ids
// better) after as many epochs as the state has trained (copies continue the count).
exec::FakeUnitResult LineageResult(const exec::UnitRequest& request) {
  const std::string state = request.state ? *request.state : "";
  std::set<std::string> epochs;  // "m<model>e<epoch>" of every training unit in the state
  for (size_t at = 0; at < state.size();) {
    const size_t end = state.find(';', at);
    const std::string marker = state.substr(at, end - at);
    epochs.insert(marker.substr(0, marker.find('p')));
    at = end == std::string::npos ? state.size() : end + 1;
  }
  exec::UnitRequest as = request;
  if (!state.empty()) as.unit.model = std::stoi(state.substr(1, state.find('e') - 1));
  const int trained = static_cast<int>(epochs.size());
  as.unit.epoch = request.unit.kind == UnitKind::kTrain ? trained : std::max(0, trained - 1);
  return exec::DefaultFakeResult(as);
}

RunOptions LineageOptions(const std::string& out) {
  RunOptions o = FakeOptions(out, nullptr);
  o.backend_factory = [](const exec::BackendConfig&) -> StatusOr<std::unique_ptr<exec::Backend>> {
    exec::FakeBackendOptions f;
    f.result = LineageResult;
    return std::unique_ptr<exec::Backend>(std::make_unique<exec::FakeBackend>(f));
  };
  return o;
}

// A population of 4 over 4 epochs, ranked after epochs 1, 2 and 3; keep_best 1, so the
// members' completed states are kept for the procedure, not by retention.
spec::ExperimentSpec PbtSpec(const std::string& csv, int workers = 2) {
  const std::string text =
      "name: pbt\ndata: {format: csv, train: {path: " + csv +
      ", header: true, label_column: label}, validation: {fraction: 0.25}}\n"
      "params: {model: mlp, hidden: [4], lr: {loguniform: [-3, -1]}, batch_size: 8}\n"
      "search: {method: pbt, num_models: 4, perturbation_interval: 1}\n"
      "run: {epochs: 4, workers: " +
      std::to_string(workers) + ", partitions: 2, order: fixed, seed: 5, keep_best: 1}\n";
  auto s = spec::ParseSpecString(text, "pbt.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

// At each boundary the worst (k = ceil(4 / 4) = 1) is replaced by a copy of model 0's
// line, which ranks first by the objective: 3 by 4 after epoch 1, 2 by 5 after epoch 2,
// 1 by 6 after epoch 3.
TEST(PbtRunTest, TheBottomIsReplacedByCopiesOfTheTopAndTheLineageIsRecorded) {
  TempDir tmp;
  auto r = RunExperiment(PbtSpec(WriteCsv(tmp)), LineageOptions(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 7u);
  const std::vector<std::pair<ModelId, size_t>> stopped = {{3, 1}, {2, 2}, {1, 3}};
  for (const auto& [id, epochs] : stopped) {
    SCOPED_TRACE("model " + std::to_string(id));
    EXPECT_EQ(ById(*r, id).status, ModelStatus::kStopped);
    EXPECT_EQ(ById(*r, id).history.size(), epochs);
    EXPECT_EQ(ById(*r, id).failure.rfind("pbt: epoch " + std::to_string(epochs) + ": ", 0), 0u)
        << ById(*r, id).failure;
  }
  for (ModelId id : {4, 5, 6}) {
    SCOPED_TRACE("model " + std::to_string(id));
    const store::ModelOutcome& m = ById(*r, id);
    EXPECT_EQ(m.status, ModelStatus::kCompleted);
    EXPECT_EQ(m.origin, store::ModelOrigin::kProcedure);
    EXPECT_EQ(m.parent, 0);
    EXPECT_EQ(static_cast<int>(m.history.size()), 4 - (id - 3));  // continues the schedule
    EXPECT_NE(m.params, ById(*r, 0).params);                      // explored
    // The copy beats what the model it replaced reached: it carries model 0's training.
    EXPECT_GT(m.history.back().val_accuracy,
              ById(*r, 7 - id).history.back().val_accuracy);
  }
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  EXPECT_EQ(ById(*r, 0).history.size(), 4u);
  EXPECT_NE(ById(*r, 3).failure.find("replaced by model 4, a copy of model 0 with "),
            std::string::npos);
  // The journal has the lineage: each copy added with its parent in a decision record.
  int added = 0;
  for (const store::Record& rec : JournalOf(r->run_dir)) {
    const auto* d = std::get_if<store::ProcedureDecision>(&rec);
    if (d == nullptr) continue;
    for (const store::Action& a : d->actions) {
      const auto* m = std::get_if<store::ModelAdded>(&a);
      if (m != nullptr && m->parent >= 0) {
        ++added;
        EXPECT_EQ(m->parent, 0);
        EXPECT_FALSE(m->warm_start.empty());
      }
    }
  }
  EXPECT_EQ(added, 3);
  EXPECT_NE(Slurp(r->run_dir + "/summary.json").find("\"parent\""), std::string::npos);
}

// Killed at every few journal appends and at and after each decision, then resumed: the
// barrier makes PBT's decisions independent of timing, so the end state is the same.
TEST(PbtRunTest, AKilledRunResumesToTheUninterruptedEndState) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  FailingAppends counting = CrashAtAppend(-1);
  RunOptions ref_options = LineageOptions(tmp.Join("reference"));
  ref_options.fs = &counting;
  auto reference = RunExperiment(PbtSpec(csv), ref_options);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const std::string metrics = Slurp(reference->run_dir + "/metrics.csv");
  const int records = counting.appends();
  const std::vector<store::Record> journal = JournalOf(reference->run_dir);
  const int offset = static_cast<int>(journal.size()) - records;
  ASSERT_GE(offset, 0);
  std::set<int> crashes;
  for (int i = 3; i <= records; ++i) {
    const bool decision = std::holds_alternative<store::ProcedureDecision>(journal[i - 1 + offset]);
    if (i % 7 == 0 || decision) crashes.insert(i);
    if (decision && i < records) crashes.insert(i + 1);
  }
  // Three decision rounds and the start, each crashed at and after: at least eight kills.
  ASSERT_GE(crashes.size(), 8u);
  for (int crash : crashes) {
    SCOPED_TRACE("crash at journal append " + std::to_string(crash));
    const std::string dir = tmp.Join("run" + std::to_string(crash));
    FailingAppends fs = CrashAtAppend(crash);
    RunOptions o = LineageOptions(dir);
    o.fs = &fs;
    ASSERT_FALSE(RunExperiment(PbtSpec(csv), o).ok());
    auto r = ResumeExperiment(dir, LineageOptions(""));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Slurp(dir + "/metrics.csv"), metrics);
    ExpectSameOutcomes(*r, *reference);
    for (const auto& m : reference->models) {
      EXPECT_EQ(ById(*r, m.id).params, m.params);
      EXPECT_EQ(ById(*r, m.id).parent, m.parent);
    }
  }
}

// The barrier makes the decisions a function of the seed and the metrics: 1 worker and 2
// make the same models, copies and metrics.
TEST(PbtRunTest, OneWorkerAndTwoMakeTheSameDecisions) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto one = RunExperiment(PbtSpec(csv, 1), LineageOptions(tmp.Join("one")));
  auto two = RunExperiment(PbtSpec(csv, 2), LineageOptions(tmp.Join("two")));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ExpectSameOutcomes(*one, *two);
  for (const auto& m : two->models) {
    EXPECT_EQ(ById(*one, m.id).params, m.params);
    EXPECT_EQ(ById(*one, m.id).parent, m.parent);
  }
  EXPECT_EQ(Slurp(one->run_dir + "/metrics.csv"), Slurp(two->run_dir + "/metrics.csv"));
}

}  // namespace
}  // namespace cerebro::driver

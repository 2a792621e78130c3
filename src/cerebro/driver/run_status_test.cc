// RunStatus (cerebro status's view) of runs on the fake backend: a finished run agrees
// with its summary.json, an interrupted one shows what is left, a run whose lock is held
// is live, a torn last line is skipped without touching the file, a corrupt one is named.
#include "cerebro/driver/run_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/exec/fake_backend.h"
#include "cerebro/store/run_lock.h"

namespace cerebro::driver {
namespace {

// Three models of 2 epochs on 2 workers: 3 x 2 x (2 train + 2 eval) = 24 units.
spec::ExperimentSpec ThreeModels(const std::string& csv) {
  auto s = spec::ParseSpecString(
      "name: status\n"
      "data: {format: csv, train: {path: " + csv + ", header: true, label_column: label},"
      " validation: {fraction: 0.25}}\n"
      "params: {model: mlp, hidden: [3], lr: {choice: [0.2, 0.02, 0.002]}, batch_size: 4}\n"
      "run: {epochs: 2, workers: 2, order: fixed, seed: 11}\n",
      "status.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(RunStatusTest, AFinishedRunMatchesItsSummary) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  auto run = RunExperiment(ThreeModels(WriteCsv(tmp)), FakeOptions(dir, nullptr));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const std::string journal = Slurp(dir + "/journal.jsonl");

  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->finished);
  EXPECT_TRUE(s->done);
  EXPECT_FALSE(s->live);
  EXPECT_EQ(s->units_total, 24);
  EXPECT_EQ(s->units_done, 24);
  EXPECT_EQ(s->epochs_done, 6);
  EXPECT_EQ(s->epochs_total, 6);
  EXPECT_EQ(s->eta_seconds, 0);
  EXPECT_EQ(s->models_by_status[ModelStatus::kCompleted], 3);
  EXPECT_EQ(s->best_model, run->best_model);
  EXPECT_EQ(s->best_value, run->best_value);
  ASSERT_EQ(s->models.size(), run->models.size());
  for (size_t i = 0; i < s->models.size(); ++i) EXPECT_EQ(s->models[i].id, run->models[i].id);
  ASSERT_EQ(s->workers.size(), 2u);
  EXPECT_EQ(s->workers[0].units + s->workers[1].units, 24);
  for (const WorkerActivity& w : s->workers) {
    EXPECT_GE(w.last.model, 0);
    EXPECT_GT(w.last.finished_at, 0);
  }
  EXPECT_TRUE(s->failures.empty());
  EXPECT_EQ(Slurp(dir + "/journal.jsonl"), journal);  // read only
}

TEST(RunStatusTest, ATwoObjectiveRunShowsTheParetoFrontItsSummaryHas) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  spec::ExperimentSpec spec = ThreeModels(WriteCsv(tmp));
  auto two = spec::ParseSpecString(
      "name: status\n"
      "data: {format: csv, train: {path: " + WriteCsv(tmp) + ", header: true, label_column: label},"
      " validation: {fraction: 0.25}}\n"
      "params: {model: mlp, hidden: [3], lr: {choice: [0.2, 0.02, 0.002]}, batch_size: 4}\n"
      "metric: [{name: accuracy}, {name: train_loss, direction: minimize}]\n"
      "run: {epochs: 2, workers: 2, order: fixed, seed: 11}\n",
      "status.yaml");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  auto run = RunExperiment(*two, FakeOptions(dir, nullptr));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_FALSE(run->pareto_front.empty());

  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->objectives.size(), 2u);
  EXPECT_EQ(s->objectives[1].name, "train_loss");
  EXPECT_EQ(s->pareto_front, run->pareto_front);

  // One objective: no front (the line and the JSON field stay empty).
  const std::string dir1 = tmp.Join("run1");
  ASSERT_TRUE(RunExperiment(spec, FakeOptions(dir1, nullptr)).ok());
  auto s1 = ReadRunStatus(dir1, &RealFileSystem());
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_TRUE(s1->objectives.empty());
  EXPECT_TRUE(s1->pareto_front.empty());
}

TEST(RunStatusTest, AnInterruptedRunShowsWhatIsLeftAndIsNotLive) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  FailingAppends fs = CrashAtAppend(10);  // after 7 units (data, decision, header: 3 appends)
  RunOptions o = FakeOptions(dir, nullptr);
  o.fs = &fs;
  ASSERT_FALSE(RunExperiment(ThreeModels(WriteCsv(tmp)), o).ok());

  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->live);
  EXPECT_FALSE(s->finished);
  EXPECT_FALSE(s->done);
  EXPECT_EQ(s->units_total, 24);
  EXPECT_GT(s->units_done, 0);
  EXPECT_LT(s->units_done, 24);
  EXPECT_NE(s->eta_seconds, 0);  // -1 only if no unit was timed; never "done"
  EXPECT_LT(s->epochs_done, 6);
  EXPECT_EQ(s->epochs_total, 6);
}

TEST(RunStatusTest, ARunWhoseLockIsHeldIsLive) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  ASSERT_TRUE(RunExperiment(ThreeModels(WriteCsv(tmp)), FakeOptions(dir, nullptr)).ok());
  {
    auto lock = store::RunLock::Acquire(dir, /*wait=*/false);
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    auto s = ReadRunStatus(dir, &RealFileSystem());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE(s->live);
    EXPECT_EQ(s->owner, "process " + std::to_string(::getpid()));
    EXPECT_FALSE(s->finished);  // its owner may be changing it
  }
  EXPECT_FALSE(store::RunLock::HeldBy(dir).has_value());
  // The probe left the lock free for an owner.
  EXPECT_TRUE(store::RunLock::Acquire(dir, /*wait=*/false).ok());
}

TEST(RunStatusTest, ATornLastLineIsSkippedAndLeftInPlace) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  ASSERT_TRUE(RunExperiment(ThreeModels(WriteCsv(tmp)), FakeOptions(dir, nullptr)).ok());
  { std::ofstream(dir + "/journal.jsonl", std::ios::app) << "{\"type\":\"unit\",\"mod"; }
  const std::string torn = Slurp(dir + "/journal.jsonl");
  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->units_done, 24);
  EXPECT_EQ(Slurp(dir + "/journal.jsonl"), torn);
}

TEST(RunStatusTest, ACorruptJournalLineIsDataLossNamingIt) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  ASSERT_TRUE(RunExperiment(ThreeModels(WriteCsv(tmp)), FakeOptions(dir, nullptr)).ok());
  std::string text = Slurp(dir + "/journal.jsonl");
  const size_t third = text.find('\n', text.find('\n') + 1) + 1;
  text.insert(third, "not json\n");
  ASSERT_TRUE(RealFileSystem().WriteFileAtomic(dir + "/journal.jsonl", text).ok());
  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("journal.jsonl:3:"), std::string::npos)
      << s.status().message();
}

TEST(RunStatusTest, FailuresAreListedWithTheirCausesInJournalOrder) {
  TempDir tmp;
  const std::string dir = tmp.Join("run");
  exec::FakeBackend fake;
  exec::FakeUnitMatch model0;
  model0.model = 0;
  model0.epoch = 1;
  fake.FailUnits(model0, {exec::CompletionKind::kWorkerLost, exec::FailureCause::kWorkerDied,
                          "worker gone"});
  exec::FakeUnitMatch model1;
  model1.model = 1;
  fake.FailUnits(model1, {exec::CompletionKind::kModelFailed, exec::FailureCause::kNonFinite,
                          "loss is nan"});
  auto run = RunExperiment(ThreeModels(WriteCsv(tmp)), FakeOptions(dir, &fake));
  ASSERT_TRUE(run.ok()) << run.status().ToString();

  auto s = ReadRunStatus(dir, &RealFileSystem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->failures.size(), 2u);
  const RunFailure& lost = s->failures[0].type == "worker_lost" ? s->failures[0] : s->failures[1];
  const RunFailure& failed = s->failures[0].type == "worker_lost" ? s->failures[1] : s->failures[0];
  EXPECT_EQ(lost.model, 0);
  EXPECT_EQ(lost.epoch, 1);
  EXPECT_GE(lost.worker, 0);
  EXPECT_EQ(lost.cause, "worker_died");
  EXPECT_EQ(lost.detail, "worker gone");
  EXPECT_EQ(failed.type, "model_failed");
  EXPECT_EQ(failed.model, 1);
  EXPECT_EQ(failed.cause, "non_finite");
  EXPECT_LT(s->failures[0].line, s->failures[1].line);
  EXPECT_EQ(s->models_by_status[ModelStatus::kFailed], 1);
  EXPECT_EQ(s->models_by_status[ModelStatus::kCompleted], 2);
  EXPECT_TRUE(s->finished);
  EXPECT_EQ(s->units_done, s->units_total);  // the failed model's units are not owed
  EXPECT_NE(s->best_model, 1);
}

TEST(RunStatusTest, NotARunDirectoryIsNotFound) {
  TempDir tmp;
  auto s = ReadRunStatus(tmp.Join("nothing"), &RealFileSystem());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cerebro::driver

// End-to-end: the driver, the MOP scheduler and real worker processes training real
// (small) LibTorch models on a real partitioned store.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/run_status.h"
#include "cerebro/exec/local_backend.h"
#include "run_helpers.h"
#include "test_data.h"

namespace cerebro {
namespace {

using driver::RunExperiment;
using driver::RunOptions;
using driver::RunResult;
using testing::ExpectEveryUnitExactlyOnce;
using testing::Options;
using testing::ParseOrDie;
using testing::ReadJsonLines;
using testing::TempDir;

TEST(EndToEndTest, MopGivesEveryModelExactlyEpochsTimesPartitionsUnits) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 3, 2));
  auto r = RunExperiment(s, Options(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 4u);
  for (const auto& m : r->models) {
    EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    EXPECT_EQ(m.train_units, 3 * 2);
    EXPECT_EQ(m.eval_units, 3 * 2);
    ASSERT_EQ(m.history.size(), 3u);
    EXPECT_EQ(m.history.back().train_examples, 450);  // 600 * (1 - 0.25), every example once
    EXPECT_EQ(m.history.back().val_examples, 150);
    EXPECT_EQ(m.history.back().train_order.size(), 2u);
  }
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 3, 2);
  // The blobs are separable: the best model learns them.
  EXPECT_GE(r->best_value, 0.9);
  EXPECT_EQ(r->models[0].id, r->best_model);
  for (size_t i = 1; i < r->models.size(); ++i) {
    EXPECT_GE(r->models[i - 1].history.back().val_accuracy, r->models[i].history.back().val_accuracy);
  }
  // The store holds what the contract promises.
  auto summary = spec::Json::parse(testing::ReadFileOrEmpty(r->run_dir + "/summary.json"));
  EXPECT_EQ(summary["best"]["model_id"], r->best_model);
  EXPECT_EQ(summary["best"]["metric"], "accuracy");
  EXPECT_EQ(summary["best"]["direction"], "max");
  EXPECT_DOUBLE_EQ(summary["best"]["value"].get<double>(), r->best_value);
  ASSERT_EQ(summary["models"].size(), 4u);
  EXPECT_EQ(summary["models"][0]["history"].size(), 3u);
  EXPECT_TRUE(summary["models"][0].contains("params"));
  EXPECT_EQ(ReadJsonLines(r->run_dir + "/metrics.jsonl").size(), 12u);
  // Every model's final state is kept (keep_best defaults to 5 > 4 models), and only it.
  for (const auto& m : summary["models"]) {
    ASSERT_TRUE(m["checkpoint"].is_string());
    EXPECT_GT(testing::ReadFileOrEmpty(r->run_dir + "/" + m["checkpoint"].get<std::string>()).size(), 1000u);
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(r->run_dir + "/checkpoints"),
                          std::filesystem::directory_iterator()),
            4);
  EXPECT_FALSE(testing::ReadFileOrEmpty(r->run_dir + "/spec.json").empty());
}

TEST(EndToEndTest, SequentialAndTaskStrategiesTrainEveryModelOnAllData) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  for (const char* strategy : {"sequential", "task"}) {
    spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 2, 2));
    s.run.strategy = *ParseEnum<spec::Strategy>(strategy);
    if (s.run.strategy == spec::Strategy::kSequential) s.run.workers = 1;
    auto r = RunExperiment(s, Options(tmp.Join(std::string("run_") + strategy)));
    ASSERT_TRUE(r.ok()) << strategy << ": " << r.status().ToString();
    for (const auto& m : r->models) {
      EXPECT_EQ(m.status, ModelStatus::kCompleted);
      EXPECT_EQ(m.train_units, 2);  // one partition holding all the data, per epoch
      EXPECT_EQ(m.history.back().train_examples, 225);
    }
    ExpectEveryUnitExactlyOnce(r->run_dir, 4, 2, 1);
    EXPECT_GE(r->best_value, 0.9) << strategy;
  }
}

TEST(EndToEndTest, DataParallelBaselineTrainsEachModelOnAllPartitionsAndAverages) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 3, 2));
  s.run.strategy = spec::Strategy::kDataParallel;
  auto r = RunExperiment(s, Options(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& m : r->models) {
    EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    EXPECT_EQ(m.train_units, 3 * 2);
    EXPECT_EQ(m.history.back().train_examples, 450);
  }
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 3, 2);
  EXPECT_GE(r->best_value, 0.9);
  // `cerebro status` reads the baseline's journal like a mop run's: progress, and each
  // worker's units with their wall times.
  auto status = driver::ReadRunStatus(r->run_dir, &RealFileSystem());
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_TRUE(status->finished);
  EXPECT_EQ(status->units_done, 4 * 3 * 2 * 2);
  EXPECT_EQ(status->units_total, status->units_done);
  EXPECT_EQ(status->best_model, r->best_model);
  ASSERT_EQ(status->workers.size(), 2u);
  for (const driver::WorkerActivity& w : status->workers) {
    EXPECT_EQ(w.units, 4 * 3 * 2);
    EXPECT_GT(w.last.submitted_at, 0);
    EXPECT_GE(w.last.finished_at, w.last.submitted_at);
  }
  auto again = driver::ResumeExperiment(r->run_dir, Options(""));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("cannot be resumed"), std::string::npos);
}

TEST(EndToEndTest, FixedOrderGivesBitwiseIdenticalMetricsFilesWithOneOrTwoWorkers) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 2, 2, "  order: fixed\n  partitions: 2\n"));
  auto two = RunExperiment(s, Options(tmp.Join("two")));
  s.run.workers = 1;
  auto one = RunExperiment(s, Options(tmp.Join("one")));
  auto two_again = RunExperiment(s, Options(tmp.Join("two_again")));
  ASSERT_TRUE(two.ok() && one.ok() && two_again.ok());
  for (const char* f : {"/metrics.csv", "/metrics.jsonl"}) {
    std::string a = testing::ReadFileOrEmpty(two->run_dir + f);
    EXPECT_GT(a.size(), 100u);
    EXPECT_EQ(a, testing::ReadFileOrEmpty(one->run_dir + f)) << f;
    EXPECT_EQ(a, testing::ReadFileOrEmpty(two_again->run_dir + f)) << f;
  }
}

TEST(EndToEndTest, KilledWorkerIsReplacedAndNoCompletedUnitIsLost) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 2, 2));
  RunOptions o = Options(tmp.Join("run"));
  int completions = 0;
  bool killed = false;
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone& u) {
    if (++completions != 3 || killed) return;
    // Kill the worker that did not just finish: it is (very likely) mid-unit.
    int victim = 1 - u.worker;
    int pid = dynamic_cast<const exec::LocalBackend*>(run.backend)->worker_pid(victim);
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
    killed = true;
  });
  o.observers.push_back(&hook);
  auto r = RunExperiment(s, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(killed);
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 2, 2);
  int lost = 0;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) lost += j["type"] == "worker_lost";
  EXPECT_EQ(lost, 1);
}

// A worker that stops answering (SIGSTOP) used to hang the run for ever, silently. Its
// unit now passes its deadline (here max(1 s, 10 x the median unit)), the worker is
// replaced and the unit re-runs; nothing completed is lost.
TEST(EndToEndTest, AStoppedWorkerIsTakenAsHungReplacedAndTheRunFinishes) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  spec::ExperimentSpec s =
      ParseOrDie(testing::SmallSpec(csv, 2, 2, "  unit_timeout_min_seconds: 1\n"));
  RunOptions o = Options(tmp.Join("run"));
  int completions = 0, stopped_pid = -1;
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone& u) {
    if (++completions != 5 || stopped_pid > 0) return;
    stopped_pid = dynamic_cast<const exec::LocalBackend*>(run.backend)->worker_pid(1 - u.worker);
    ASSERT_GT(stopped_pid, 0);
    ::kill(stopped_pid, SIGSTOP);  // alive, but it will never answer
  });
  o.observers.push_back(&hook);
  auto r = RunExperiment(s, o);
  if (stopped_pid > 0) ::kill(stopped_pid, SIGKILL);  // in case it was not replaced
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(stopped_pid, 0);
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 2, 2);
  int hung = 0;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) {
    hung += j["type"] == "worker_lost" && j.value("cause", "") == "hung";
  }
  EXPECT_EQ(hung, 1);
}

TEST(EndToEndTest, AFailingModelIsRecordedAndTheOthersFinish) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  std::string text = testing::SmallSpec(csv, 2, 2);
  // lr 1e30 with plain SGD blows the loss up to inf/NaN in the first batches.
  text.replace(text.find("optimizer: adam"), 15, "optimizer: sgd");
  text.replace(text.find("[0.01, 0.003]"), 13, "[0.05, 1.0e30]");
  auto r = RunExperiment(ParseOrDie(text), Options(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int failed = 0, completed = 0;
  for (const auto& m : r->models) {
    if (m.status == ModelStatus::kFailed) {
      ++failed;
      EXPECT_EQ(m.params["lr"].get<double>(), 1e30);
      EXPECT_FALSE(m.failure.empty());
    } else {
      ++completed;
    }
  }
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(completed, 2);
  EXPECT_EQ(r->models.back().status, ModelStatus::kFailed);  // ranked after every completed model
  auto summary = spec::Json::parse(testing::ReadFileOrEmpty(r->run_dir + "/summary.json"));
  EXPECT_EQ(summary["models"][3]["status"], "failed");
  EXPECT_TRUE(summary["models"][3].contains("failure"));
}

// The refusal must not depend on the host: with vm.overcommit_memory=1 (or a big enough
// host) a 160 GB allocation is granted and the OOM killer fires instead, maybe at a
// neighbour. The workers' address space is bounded (CEREBRO_WORKER_RLIMIT_AS_BYTES, see
// exec/worker_main.cc), so the allocation is refused everywhere; the test checks that the
// bound is in force in the running workers.
TEST(EndToEndTest, AModelThatRunsOutOfMemoryFailsAloneWithTheReason) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  std::string text = testing::SmallSpec(csv, 1, 2);
  // 200000 x 200000 floats = 160 GB: the allocation fails inside the unit.
  text.replace(text.find("[[16], [32, 16]]"), 16, "[[16], [200000, 200000]]");
  const std::string kLimit = std::to_string(8ull << 30);  // far above a worker's needs
  ::setenv("CEREBRO_WORKER_RLIMIT_AS_BYTES", kLimit.c_str(), 1);
  std::set<std::string> limits_seen;
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone& u) {
    int pid = dynamic_cast<const exec::LocalBackend*>(run.backend)->worker_pid(u.worker);
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Max address space", 0) == 0) {
        std::istringstream fields(line.substr(std::string("Max address space").size()));
        std::string soft;
        fields >> soft;
        limits_seen.insert(soft);
      }
    }
  });
  RunOptions o = Options(tmp.Join("run"));
  o.observers.push_back(&hook);
  auto r = RunExperiment(ParseOrDie(text), o);
  ::unsetenv("CEREBRO_WORKER_RLIMIT_AS_BYTES");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(limits_seen, std::set<std::string>{kLimit});
  int failed = 0;
  for (const auto& m : r->models) {
    if (m.params["hidden"].size() == 2) {
      EXPECT_EQ(m.status, ModelStatus::kFailed);
      EXPECT_NE(m.failure.find("alloc"), std::string::npos) << m.failure;
      ++failed;
    } else {
      EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    }
  }
  EXPECT_EQ(failed, 2);
}

// README "Nothing lost": a model whose worker is lost more than run.max_unit_retries times
// fails with the reason, the others finish every unit, and keep_failed keeps the failed
// model's last state. Every time the victim is seen running (after it journaled a state),
// its worker is SIGKILLed.
TEST(EndToEndTest, AModelWhoseWorkerKeepsDyingFailsAfterMaxUnitRetriesAndTheOthersFinish) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  std::string text = testing::SmallSpec(csv, 3, 2, "  max_unit_retries: 2\n  keep_failed: true\n");
  // Two models are wide (slow units), so a kill made while the victim, one of them, is
  // seen running lands mid-unit; a kill that races a finished unit is charged to the
  // worker's next unit, which only re-runs (another model's loss, within the limit).
  text.replace(text.find("[[16], [32, 16]]"), 16, "[[16], [1024, 1024]]");
  spec::ExperimentSpec s = ParseOrDie(text);
  RunOptions o = Options(tmp.Join("run"));
  ModelId victim = -1;  // the first wide model
  auto configs = driver::ConfigurationsJson(s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  for (const auto& c : *configs) {
    if (victim < 0 && c["params"]["hidden"].size() == 2) victim = c["id"].get<ModelId>();
  }
  ASSERT_GE(victim, 0);
  const ModelId kVictim = victim;
  bool victim_has_state = false;
  int kills = 0;
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone& u) {
    if (u.model == kVictim && !u.checkpoint.empty()) victim_has_state = true;
    if (!victim_has_state || kills >= 20) return;
    if (run.state.model(kVictim).outcome.status == ModelStatus::kFailed) return;
    const auto* local = dynamic_cast<const exec::LocalBackend*>(run.backend);
    for (int w = 0; w < run.state.hopper().num_workers(); ++w) {
      auto unit = run.state.hopper().running_unit(w);
      if (!unit || unit->model != kVictim) continue;
      ASSERT_GT(local->worker_pid(w), 0);
      ::kill(local->worker_pid(w), SIGKILL);
      ++kills;
    }
  });
  o.observers.push_back(&hook);
  auto r = RunExperiment(s, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(kills, 3);
  int lost = 0;
  std::string last_state;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) {
    if (j.value("model", -1) != kVictim) continue;
    lost += j["type"] == "worker_lost";
    if (j["type"] == "unit" && j.contains("checkpoint")) last_state = j["checkpoint"];
  }
  EXPECT_EQ(lost, 3);  // max_unit_retries + 1, and nothing of the victim ran after that
  auto counts = testing::UnitCounts(r->run_dir);
  for (const auto& m : r->models) {
    if (m.id == kVictim) {
      EXPECT_EQ(m.status, ModelStatus::kFailed);
      EXPECT_NE(m.failure.find("failed 3 times"), std::string::npos) << m.failure;
      EXPECT_NE(m.failure.find("killed"), std::string::npos) << m.failure;
      // keep_failed: its last journaled state is kept and named.
      ASSERT_FALSE(last_state.empty());
      EXPECT_EQ(m.checkpoint, last_state);
      EXPECT_GT(testing::ReadFileOrEmpty(r->run_dir + "/" + m.checkpoint).size(), 1000u);
      continue;
    }
    EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    for (int e = 0; e < 3; ++e)
      for (int p = 0; p < 2; ++p)
        for (const char* kind : {"train", "eval"}) {
          EXPECT_EQ((counts[{m.id, e, kind, p}]), 1) << m.id << " " << e << " " << kind << " " << p;
        }
  }
  auto summary = spec::Json::parse(testing::ReadFileOrEmpty(r->run_dir + "/summary.json"));
  int failed_in_summary = 0;
  for (const auto& m : summary["models"]) {
    if (m["id"] != kVictim) continue;
    ++failed_in_summary;
    EXPECT_EQ(m["status"], "failed");
    EXPECT_EQ(m["checkpoint"], last_state);
  }
  EXPECT_EQ(failed_in_summary, 1);
}

// "Bitwise identical across worker counts". In mop every partition has its own process
// and run.workers is how many run at once, so the same three partitions are trained with
// 1, 2 and 3 units in flight; in task, 1, 2 and 3 worker processes share the data and the
// models move between them. Either way the bytes are the same.
TEST(EndToEndTest, FixedOrderMetricsAreBitwiseIdenticalOnOneTwoAndThreeWorkers) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  for (const char* strategy : {"mop", "task"}) {
    SCOPED_TRACE(strategy);
    const bool mop = std::string(strategy) == "mop";
    const std::string run = std::string("  order: fixed\n  strategy: ") + strategy + "\n" +
                            (mop ? "  partitions: 3\n" : "");
    spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 2, 1, run));
    std::map<int, std::string> csvs, jsonls;
    for (int workers : {1, 2, 3}) {
      s.run.workers = workers;
      auto r = RunExperiment(s, Options(tmp.Join(std::string(strategy) + std::to_string(workers))));
      ASSERT_TRUE(r.ok()) << workers << ": " << r.status().ToString();
      csvs[workers] = testing::ReadFileOrEmpty(r->run_dir + "/metrics.csv");
      jsonls[workers] = testing::ReadFileOrEmpty(r->run_dir + "/metrics.jsonl");
      // The worker processes that ran units: one per partition (mop), `workers` (task).
      std::set<int> used;
      for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) {
        if (j["type"] == "unit") used.insert(j["worker"].get<int>());
      }
      EXPECT_EQ(used.size(), static_cast<size_t>(mop ? 3 : workers));
    }
    EXPECT_GT(csvs[1].size(), 100u);
    EXPECT_EQ(csvs[1], csvs[2]);
    EXPECT_EQ(csvs[1], csvs[3]);
    EXPECT_EQ(jsonls[1], jsonls[2]);
    EXPECT_EQ(jsonls[1], jsonls[3]);
  }
}

}  // namespace
}  // namespace cerebro

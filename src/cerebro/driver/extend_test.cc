// ExtendExperiment (cerebro run --extend) on the fake backend: a finished run goes on with
// more epochs (each model from its last state, epochs numbered on) or more models from the
// same search, as one journaled decision; what does not fit is refused with one line and
// changes nothing; a crash during the extension is finished by resume.
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <string>

#include "cerebro/driver/command_source.h"
#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/store/experiment_store.h"
#include "cerebro/store/journal.h"

namespace cerebro::driver {
namespace {

// A grid of 2 (or random search over `models`), `epochs` epochs, 2 workers, order fixed.
spec::ExperimentSpec ExtendSpec(const std::string& csv, int epochs, const std::string& search) {
  const std::string text =
      "name: extend\ndata: {format: csv, train: {path: " + csv +
      ", header: true, label_column: label}, validation: {fraction: 0.25}}\n"
      "params: {model: mlp, hidden: [4], lr: " +
      std::string(search == "grid" ? "{choice: [0.1, 0.01]}" : "{loguniform: [-3, -1]}") +
      ", batch_size: 8}\nsearch: " +
      (search == "grid" ? std::string("{method: grid}") : search) +
      "\nrun: {epochs: " + std::to_string(epochs) + ", workers: 2, order: fixed, seed: 5}\n";
  auto s = spec::ParseSpecString(text, "extend.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

spec::Overrides Epochs(int n) { return {{"run.epochs", n, "--epochs"}}; }
spec::Overrides Models(int n) { return {{"search.num_models", n, "--num-models"}}; }

// Each model's final state (the fake's state lists every training unit it went through).
std::map<ModelId, std::string> FinalStates(const RunResult& r) {
  std::map<ModelId, std::string> out;
  for (const auto& m : r.models) out[m.id] = Slurp(r.run_dir + "/" + m.checkpoint);
  return out;
}

void ExpectSameHistories(const RunResult& got, const RunResult& want) {
  ExpectSameOutcomes(got, want);
  for (const auto& m : want.models) {
    const auto& h = ById(got, m.id).history;
    ASSERT_EQ(h.size(), m.history.size()) << "model " << m.id;
    for (size_t e = 0; e < h.size(); ++e) {
      EXPECT_EQ(h[e].epoch, m.history[e].epoch);
      EXPECT_EQ(h[e].train_loss, m.history[e].train_loss) << "model " << m.id;
      EXPECT_EQ(h[e].val_accuracy, m.history[e].val_accuracy) << "model " << m.id;
    }
  }
}

TEST(ExtendTest, MoreEpochsContinueEachModelFromItsLastStateAsIfItHadThemFromTheStart) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto three = RunExperiment(ExtendSpec(csv, 3, "grid"), FakeOptions(tmp.Join("three"), nullptr));
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  auto two = RunExperiment(ExtendSpec(csv, 2, "grid"), FakeOptions(tmp.Join("two"), nullptr));
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  const size_t records = JournalOf(two->run_dir).size();
  auto extended = ExtendExperiment(two->run_dir, Epochs(3), FakeOptions("", nullptr));
  ASSERT_TRUE(extended.ok()) << extended.status().ToString();
  EXPECT_TRUE(extended->finished);
  ExpectSameHistories(*extended, *three);
  // The states went on from the 2-epoch ones: the same units, in the same order.
  EXPECT_EQ(FinalStates(*extended), FinalStates(*three));
  // One decision extends every model; the journal goes on after it.
  const std::vector<store::Record> journal = JournalOf(two->run_dir);
  ASSERT_GT(journal.size(), records);
  const auto* d = std::get_if<store::ProcedureDecision>(&journal[records]);
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->actions.size(), 2u);
  for (const store::Action& a : d->actions) {
    ASSERT_TRUE(std::holds_alternative<store::ModelExtended>(a));
    EXPECT_EQ(std::get<store::ModelExtended>(a).epochs, 3);
  }
  EXPECT_EQ(spec::Json::parse(Slurp(two->run_dir + "/spec.json"))["run"]["epochs"], 3);
  // The same units as the 3-epoch run's, and the one decision more.
  EXPECT_EQ(journal.size(), JournalOf(three->run_dir).size() + 1);
}

// A model `cerebro ctl extend` gave more epochs keeps them; the others go on to the new
// budget, and asking for it again is refused.
TEST(ExtendTest, ModelsWithAtLeastTheNewEpochsAreLeftAsTheyAre) {
  TempDir tmp;
  auto commands = QueueCommandSource::Create();
  ASSERT_TRUE(commands.ok());
  (*commands)->Push(search::ExtendModel{0, 4});
  RunOptions o = FakeOptions(tmp.Join("run"), nullptr);
  o.commands = commands->get();
  auto r = RunExperiment(ExtendSpec(WriteCsv(tmp), 2, "grid"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(ById(*r, 0).history.size(), 4u);
  auto x = ExtendExperiment(r->run_dir, Epochs(3), FakeOptions("", nullptr));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(ById(*x, 0).history.size(), 4u);
  EXPECT_EQ(ById(*x, 1).history.size(), 3u);
  auto again = ExtendExperiment(r->run_dir, Epochs(3), FakeOptions("", nullptr));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(),
            "--epochs: the run trains its models 3 epochs already; give more");
}

TEST(ExtendTest, MoreModelsAreTheSearchsNextConfigurations) {
  TempDir tmp;
  const std::string random = "{method: random, num_models: ";
  auto five = RunExperiment(ExtendSpec(WriteCsv(tmp), 2, random + "5}"),
                            FakeOptions(tmp.Join("five"), nullptr));
  ASSERT_TRUE(five.ok()) << five.status().ToString();
  auto three = RunExperiment(ExtendSpec(WriteCsv(tmp), 2, random + "3}"),
                             FakeOptions(tmp.Join("three"), nullptr));
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  auto extended = ExtendExperiment(three->run_dir, Models(5), FakeOptions("", nullptr));
  ASSERT_TRUE(extended.ok()) << extended.status().ToString();
  ASSERT_EQ(extended->models.size(), 5u);
  for (const auto& m : five->models) EXPECT_EQ(ById(*extended, m.id).params, m.params);
  ExpectSameHistories(*extended, *five);
  // Both at once: the new models get the new epochs too.
  auto both = ExtendExperiment(three->run_dir, {{"run.epochs", 3, "--epochs"},
                                                {"search.num_models", 6, "--num-models"}},
                               FakeOptions("", nullptr));
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->models.size(), 6u);
  for (const auto& m : both->models) EXPECT_EQ(m.history.size(), 3u) << "model " << m.id;
}

// The procedure goes on from its journaled state under the extended spec: a PBT run of 2
// epochs extended to 4 ranks and replaces at epochs 2 and 3 as a 4-epoch run does, and a
// TPE run of 4 models extended to 6 proposes what a 6-model run proposes (each proposal
// sees a fixed prefix of the models, search/tpe.h).
TEST(ExtendTest, PbtAndTpeGoOnAsIfTheRunHadBeenLongerFromTheStart) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto spec = [&](const std::string& search, int epochs) {
    spec::ExperimentSpec s = ExtendSpec(csv, epochs, search);
    s.run.keep_best = 50;  // every member's final state stays
    return s;
  };
  const std::string pbt = "{method: pbt, num_models: 4, perturbation_interval: 1}";
  auto four = RunExperiment(spec(pbt, 4), FakeOptions(tmp.Join("pbt4"), nullptr));
  ASSERT_TRUE(four.ok()) << four.status().ToString();
  auto two = RunExperiment(spec(pbt, 2), FakeOptions(tmp.Join("pbt2"), nullptr));
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ASSERT_LT(two->models.size(), four->models.size());
  auto pbt_x = ExtendExperiment(two->run_dir, Epochs(4), FakeOptions("", nullptr));
  ASSERT_TRUE(pbt_x.ok()) << pbt_x.status().ToString();
  ExpectSameHistories(*pbt_x, *four);
  for (const auto& m : four->models) {
    EXPECT_EQ(ById(*pbt_x, m.id).params, m.params) << "model " << m.id;
    EXPECT_EQ(ById(*pbt_x, m.id).parent, m.parent) << "model " << m.id;
  }
  const std::string tpe = "{method: tpe, num_models: ";
  auto six = RunExperiment(spec(tpe + "6, n_startup_trials: 2}", 2),
                           FakeOptions(tmp.Join("tpe6"), nullptr));
  ASSERT_TRUE(six.ok()) << six.status().ToString();
  auto tpe4 = RunExperiment(spec(tpe + "4, n_startup_trials: 2}", 2),
                            FakeOptions(tmp.Join("tpe4"), nullptr));
  ASSERT_TRUE(tpe4.ok()) << tpe4.status().ToString();
  auto tpe_x = ExtendExperiment(tpe4->run_dir, Models(6), FakeOptions("", nullptr));
  ASSERT_TRUE(tpe_x.ok()) << tpe_x.status().ToString();
  ExpectSameHistories(*tpe_x, *six);
  for (const auto& m : six->models) EXPECT_EQ(ById(*tpe_x, m.id).params, m.params);
  // PBT's population keeps its size.
  auto more = ExtendExperiment(two->run_dir, Models(8), FakeOptions("", nullptr));
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().message().rfind("--num-models: pbt's population keeps its size", 0), 0u)
      << more.status().message();
}

TEST(ExtendTest, WhatDoesNotFitIsOneLineAndChangesNothing) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto run = RunExperiment(ExtendSpec(csv, 2, "grid"), FakeOptions(tmp.Join("grid"), nullptr));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  auto asha = RunExperiment(ExtendSpec(csv, 2, "{method: asha, num_models: 2}"),
                            FakeOptions(tmp.Join("asha"), nullptr));
  ASSERT_TRUE(asha.ok()) << asha.status().ToString();
  // Killed mid-way: not finished.
  FailingAppends crash = CrashAtAppend(6);
  RunOptions o = FakeOptions(tmp.Join("cut"), nullptr);
  o.fs = &crash;
  ASSERT_FALSE(RunExperiment(ExtendSpec(csv, 2, "grid"), o).ok());
  const std::string grid = run->run_dir, cut = tmp.Join("cut");
  const std::vector<std::tuple<std::string, spec::Overrides, std::string>> cases = {
      {grid, {}, "--extend: give --epochs N (more epochs) or --num-models M (more models)"},
      {grid, Epochs(2), "--epochs: the run trains its models 2 epochs already; give more"},
      {grid, Epochs(0), "--epochs: "},
      {grid, {{"run.workers", 3, "--workers"}}, "--workers: an extension keeps the run's settings"},
      {grid, Models(4), "--num-models: "},
      {asha->run_dir, Epochs(3), "--extend: asha's rungs are fixed by its max_t and models"},
      {cut, Epochs(3), cut + ": not finished ("},
      {tmp.Join("none"), Epochs(3), ""},
  };
  for (const auto& [dir, overrides, message] : cases) {
    SCOPED_TRACE(message);
    const std::string journal = Slurp(dir + "/journal.jsonl");
    const std::string spec = Slurp(dir + "/spec.json");
    auto r = ExtendExperiment(dir, overrides, FakeOptions("", nullptr));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().code() == StatusCode::kInvalidArgument ||
                r.status().code() == StatusCode::kNotFound)
        << r.status().ToString();
    EXPECT_EQ(r.status().message().rfind(message, 0), 0u) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    EXPECT_EQ(Slurp(dir + "/journal.jsonl"), journal);
    EXPECT_EQ(Slurp(dir + "/spec.json"), spec);
  }
  // Another process owns it (a live run or resume): still running.
  auto held = store::ExperimentStore::Open(&RealFileSystem(), grid,
                                           store::ExperimentStore::Lock::kTry);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  auto r = ExtendExperiment(grid, Epochs(3), FakeOptions("", nullptr));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(grid + ": still running (in use by ", 0), 0u)
      << r.status().message();
}

// Killed at each journal append of the extension (its decision record, then units): the
// decision either never happened (extend again) or resume finishes the extended run.
TEST(ExtendTest, ACrashDuringTheExtensionIsFinishedByResumeOrByExtendingAgain) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto ref = RunExperiment(ExtendSpec(csv, 2, "grid"), FakeOptions(tmp.Join("ref"), nullptr));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  FailingAppends counting = CrashAtAppend(-1);
  RunOptions counted = FakeOptions("", nullptr);
  counted.fs = &counting;
  auto want = ExtendExperiment(ref->run_dir, Epochs(3), counted);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const std::string metrics = Slurp(ref->run_dir + "/metrics.csv");
  for (int crash = 1; crash <= counting.appends(); crash += 3) {
    SCOPED_TRACE("crash at append " + std::to_string(crash));
    const std::string dir = tmp.Join("run" + std::to_string(crash));
    ASSERT_TRUE(RunExperiment(ExtendSpec(csv, 2, "grid"), FakeOptions(dir, nullptr)).ok());
    FailingAppends fs = CrashAtAppend(crash);
    RunOptions o = FakeOptions("", nullptr);
    o.fs = &fs;
    ASSERT_FALSE(ExtendExperiment(dir, Epochs(3), o).ok());
    auto r = crash == 1 ? ExtendExperiment(dir, Epochs(3), FakeOptions("", nullptr))
                        : ResumeExperiment(dir, FakeOptions("", nullptr));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectSameHistories(*r, *want);
    EXPECT_EQ(Slurp(dir + "/metrics.csv"), metrics);
  }
}

}  // namespace
}  // namespace cerebro::driver

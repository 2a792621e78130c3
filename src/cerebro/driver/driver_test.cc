// The run loop on the fake backend (no processes, no torch): procedures' decisions at
// epoch boundaries, their replay on resume, commands waking the loop, observers in
// journal order, failure classes, and the durable order of failures and retention.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <thread>

#include "cerebro/data/store_identity.h"
#include "cerebro/driver/driver.h"
#include "cerebro/driver/driver_test_util.h"
#include "cerebro/exec/fake_backend.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/run_lock.h"

namespace cerebro::driver {
namespace {

using exec::FakeBackend;
using store::ModelOutcome;

spec::ExperimentSpec Spec(const std::string& csv, int epochs, const std::string& extra = "") {
  std::string text = "name: fake\ndata: {format: csv, train: {path: " + csv +
                     ", header: true, label_column: label}, validation: {fraction: 0.25}}\n"
                     "params: {model: mlp, hidden: [4], lr: {choice: [0.1, 0.01]}, batch_size: 8}\n"
                     "run: {epochs: " + std::to_string(epochs) +
                     ", workers: 2, order: fixed, seed: 3" + extra + "}\n";
  auto s = spec::ParseSpecString(text, "fake.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

// A procedure for the tests: two models at the start; when model 0 finishes its first
// epoch it adds model 2, warm-started from model 0, for 2 epochs; when model 1 finishes
// its first epoch it stops it. Each decision is about the model whose epoch just ended
// (or its clone), so the end state does not depend on the order units finish in. Its
// state counts the epochs it was shown; `calls` counts every consultation.
class ScriptedProcedure final : public search::Procedure {
 public:
  explicit ScriptedProcedure(int* calls) : calls_(calls) {}
  StatusOr<std::vector<search::Decision>> Start(const search::Observation&) override {
    ++*calls_;
    return std::vector<search::Decision>{search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.1}}, 3, -1},
                                         search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.01}}, 3, -1}};
  }
  StatusOr<std::vector<search::Decision>> OnEpochDone(const search::Observation& run,
                                                      ModelId model) override {
    ++*calls_;
    ++seen_;
    const search::ModelView& m = run.models[static_cast<size_t>(model)];
    if (model == 0 && m.history.size() == 1) {
      return std::vector<search::Decision>{
          search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.05}}, 2, 0}};
    }
    if (model == 1 && m.history.size() == 1) {
      return std::vector<search::Decision>{search::StopModel{1, "scripted: below model 0"}};
    }
    return std::vector<search::Decision>{};
  }
  spec::Json SaveState() const override { return {{"seen", seen_}}; }
  Status RestoreState(const spec::Json& state) override {
    seen_ = state.is_object() ? state.value("seen", 0) : 0;
    return Status::Ok();
  }

 private:
  int* calls_;
  int seen_ = 0;
};

ProcedureFactory Scripted(int* calls) {
  return [calls](const spec::ExperimentSpec&) -> StatusOr<std::unique_ptr<search::Procedure>> {
    return std::unique_ptr<search::Procedure>(std::make_unique<ScriptedProcedure>(calls));
  };
}

TEST(RunLoopTest, AProcedureAddsAndStopsModelsAtEpochBoundaries) {
  TempDir tmp;
  FakeBackend fake;
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  int calls = 0;
  o.procedure_factory = Scripted(&calls);
  auto r = RunExperiment(Spec(WriteCsv(tmp), 3), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 3u);
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  EXPECT_EQ(ById(*r, 0).history.size(), 3u);
  const ModelOutcome& stopped = ById(*r, 1);
  EXPECT_EQ(stopped.status, ModelStatus::kStopped);
  EXPECT_EQ(stopped.failure, "scripted: below model 0");
  EXPECT_EQ(stopped.history.size(), 1u);  // stopped when it finished epoch 1
  const ModelOutcome& added = ById(*r, 2);
  EXPECT_EQ(added.status, ModelStatus::kCompleted);
  EXPECT_EQ(added.origin, store::ModelOrigin::kProcedure);
  EXPECT_EQ(added.parent, 0);
  EXPECT_EQ(added.history.size(), 2u);
  // Warm start: model 2's first training unit started from model 0's state after epoch 1
  // (two training units, one per partition), not from fresh weights.
  for (const exec::UnitRequest& req : fake.submitted()) {
    if (req.unit.model != 2) continue;
    ASSERT_NE(req.state, nullptr);
    EXPECT_EQ(req.state->find("m0e0"), 0u) << *req.state;
    EXPECT_EQ(req.state->find("m0e1"), std::string::npos) << *req.state;
    break;
  }
  // Each decision is one journal record; the procedure's state moves with every epoch it
  // is shown, so every epoch has one (2 + 3 + 1 + 2 epochs, and the start).
  int decisions = 0, with_actions = 0;
  for (const auto& rec : JournalOf(r->run_dir)) {
    if (const auto* d = std::get_if<store::ProcedureDecision>(&rec)) {
      ++decisions;
      with_actions += !d->actions.empty();
    }
  }
  EXPECT_EQ(decisions, 1 + 3 + 1 + 2);
  EXPECT_EQ(with_actions, 3);  // the start, the clone, the stop
}

TEST(RunLoopTest, DecisionsAreReadBackOnResumeAndTheEndStateIsTheUninterruptedOnes) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  int calls = 0;
  RunOptions ref_options = FakeOptions(tmp.Join("reference"), nullptr);
  ref_options.procedure_factory = Scripted(&calls);
  FailingAppends counting = CrashAtAppend(-1);
  ref_options.fs = &counting;
  auto reference = RunExperiment(Spec(csv, 3), ref_options);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const std::string metrics = Slurp(reference->run_dir + "/metrics.csv");
  const int records = counting.appends();
  ASSERT_GT(records, 20);
  // Every crash point after the run was published (appends 1 and 2, the data record and
  // the start decision, are written before it is).
  for (int crash = 3; crash <= records; ++crash) {
    SCOPED_TRACE("crash at journal append " + std::to_string(crash));
    const std::string dir = tmp.Join("run" + std::to_string(crash));
    FailingAppends fs = CrashAtAppend(crash);
    RunOptions o = FakeOptions(dir, nullptr);
    o.procedure_factory = Scripted(&calls);
    o.fs = &fs;
    ASSERT_FALSE(RunExperiment(Spec(csv, 3), o).ok());
    int resumed_calls = 0;
    RunOptions again = FakeOptions("", nullptr);
    again.procedure_factory = Scripted(&resumed_calls);
    auto r = ResumeExperiment(dir, again);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Slurp(dir + "/metrics.csv"), metrics);
    ExpectSameOutcomes(*r, *reference);
    int added = 0;
    for (const auto& rec : JournalOf(dir)) {
      if (const auto* d = std::get_if<store::ProcedureDecision>(&rec)) {
        for (const auto& a : d->actions) added += std::holds_alternative<store::ModelAdded>(a);
      }
    }
    EXPECT_EQ(added, 3);  // read back, never decided twice
  }
}

// Records every observer call, to compare with the journal.
class Recorder final : public RunObserver {
 public:
  Status OnStarted(const RunView&) override { return Log("started"); }
  Status OnUnitDone(const RunView&, const store::UnitDone& u) override {
    return Log("unit " + std::to_string(u.model) + "." + std::to_string(u.epoch) + "." +
               std::string(EnumName(u.kind)) + "." + std::to_string(u.partition));
  }
  Status OnEpochDone(const RunView&, const store::EpochRow& r) override {
    return Log("epoch " + std::to_string(r.model_id) + "." + std::to_string(r.epoch));
  }
  Status OnModelStatus(const RunView& run, ModelId id) override {
    return Log("status " + std::to_string(id) + " " +
               std::string(EnumName(run.state.model(id).outcome.status)));
  }
  Status OnFinished(const RunView&, const Status& loop, const store::Summary&) override {
    return Log(loop.ok() ? "finished" : "failed");
  }
  std::vector<std::string> log;

 private:
  Status Log(std::string s) {
    log.push_back(std::move(s));
    return Status::Ok();
  }
};

TEST(RunLoopTest, ObserversAreCalledInJournalOrder) {
  TempDir tmp;
  Recorder rec;
  RunOptions o = FakeOptions(tmp.Join("run"), nullptr);
  o.observers.push_back(&rec);
  auto r = RunExperiment(Spec(WriteCsv(tmp), 2), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // What the journal says happened, in its order, in the recorder's words.
  std::vector<std::string> expected = {"started"};
  std::map<std::pair<int, int>, int> units_in_epoch;
  for (const auto& record : JournalOf(r->run_dir)) {
    const auto* u = std::get_if<store::UnitDone>(&record);
    if (u == nullptr) continue;
    expected.push_back("unit " + std::to_string(u->model) + "." + std::to_string(u->epoch) + "." +
                       std::string(EnumName(u->kind)) + "." + std::to_string(u->partition));
    int& n = units_in_epoch[{u->model, u->epoch}];
    if (n == 0 && u->epoch == 0) expected.push_back("status " + std::to_string(u->model) + " running");
    if (++n == 4) {  // 2 partitions x (train + eval)
      expected.push_back("epoch " + std::to_string(u->model) + "." + std::to_string(u->epoch + 1));
      if (u->epoch == 1) expected.push_back("status " + std::to_string(u->model) + " completed");
    }
  }
  expected.push_back("finished");
  EXPECT_EQ(rec.log, expected);
  // Their time is counted (what watching a run costs: bench/driver_overhead.sh), within
  // the loop's wall time.
  EXPECT_GT(r->timing.observer_seconds, 0);
  EXPECT_LE(r->timing.observer_seconds, r->timing.wall_seconds);
}

// Pushes a command the first time a unit finishes: the wakeup is then pending while the
// loop goes back to the backend's wait, which must return to let the loop take it.
class PushOnFirstUnit final : public RunObserver {
 public:
  PushOnFirstUnit(QueueCommandSource* q, Command c) : q_(q), c_(std::move(c)) {}
  Status OnUnitDone(const RunView&, const store::UnitDone&) override {
    if (!pushed_) q_->Push(c_);
    pushed_ = true;
    return Status::Ok();
  }

 private:
  QueueCommandSource* q_;
  Command c_;
  bool pushed_ = false;
};

TEST(RunLoopTest, ACommandWakesTheLoopAndIsJournaledOnce) {
  TempDir tmp;
  auto commands = QueueCommandSource::Create();
  ASSERT_TRUE(commands.ok());
  PushOnFirstUnit push(commands->get(), search::StopModel{1, "enough"});
  RunOptions o = FakeOptions(tmp.Join("run"), nullptr);
  o.commands = commands->get();
  o.observers.push_back(&push);
  auto r = RunExperiment(Spec(WriteCsv(tmp), 3), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kStopped);
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  int stops = 0;
  for (const auto& rec : JournalOf(r->run_dir)) {
    if (const auto* s = std::get_if<store::ModelStopped>(&rec)) {
      ++stops;
      EXPECT_EQ(s->reason, store::StopReason::kUser);
      EXPECT_EQ(s->detail, "enough");
    }
  }
  EXPECT_EQ(stops, 1);
}

TEST(RunLoopTest, ACommandFromAnotherThreadWakesALoopThatWaitsOnlyForWorkers) {
  // The fake backend returns a completion at once whenever one is in flight, so the
  // wakeup is observed at the next wait; the other thread's Notify must be seen there.
  TempDir tmp;
  auto commands = QueueCommandSource::Create();
  ASSERT_TRUE(commands.ok());
  std::thread pusher([&] { (*commands)->Push(search::ExtendModel{0, 4}); });
  pusher.join();
  RunOptions o = FakeOptions(tmp.Join("run"), nullptr);
  o.commands = commands->get();
  auto r = RunExperiment(Spec(WriteCsv(tmp), 2), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ById(*r, 0).history.size(), 4u);  // extended from 2 to 4 epochs
  EXPECT_EQ(ById(*r, 1).history.size(), 2u);
}

TEST(RunLoopTest, RetryableFailuresRerunTheUnitAndTerminalOnesFailOnlyTheirModel) {
  TempDir tmp;
  FakeBackend fake;
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  {
    FakeBackend& b = fake;
    exec::FakeUnitMatch m0;
    m0.model = 0;
    m0.epoch = 1;
    b.FailUnits(m0, {exec::CompletionKind::kRetry, exec::FailureCause::kStateCorrupt, "bad bytes"}, 1);
    exec::FakeUnitMatch m0b = m0;
    m0b.epoch = 0;
    b.FailUnits(m0b, {exec::CompletionKind::kWorkerLost, exec::FailureCause::kWorkerDied, "gone"}, 1);
    exec::FakeUnitMatch m1;
    m1.model = 1;
    m1.epoch = 1;
    b.FailUnits(m1, {exec::CompletionKind::kModelFailed, exec::FailureCause::kOutOfMemory, "oom"}, 1);
  }
  auto r = RunExperiment(Spec(WriteCsv(tmp), 2), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  EXPECT_EQ(ById(*r, 0).history.size(), 2u);
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kFailed);
  EXPECT_EQ(ById(*r, 1).failure, "oom");
  int retried = 0, lost = 0, failed = 0;
  for (const auto& rec : JournalOf(r->run_dir)) {
    if (const auto* x = std::get_if<store::UnitRetried>(&rec)) retried += x->cause == "state_corrupt";
    if (const auto* x = std::get_if<store::WorkerLost>(&rec)) lost += x->cause == "worker_died";
    if (const auto* x = std::get_if<store::ModelFailed>(&rec)) failed += x->cause == "out_of_memory";
  }
  EXPECT_EQ(retried, 1);
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(failed, 1);
  int restarts = 0;
  for (const auto& e : fake.events()) restarts += e.type == exec::FakeEvent::Type::kRestart;
  EXPECT_EQ(restarts, 1);  // only the lost worker was replaced
}

TEST(RunLoopTest, AModelWhoseUnitsKeepFailingFailsAfterMaxUnitRetries) {
  TempDir tmp;
  FakeBackend fake;
  exec::FakeUnitMatch m;
  m.model = 1;
  fake.FailUnits(m, {exec::CompletionKind::kWorkerLost, exec::FailureCause::kWorkerDied, "killed"}, -1);
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  auto r = RunExperiment(Spec(WriteCsv(tmp), 2, ", max_unit_retries: 2"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kCompleted);
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kFailed);
  EXPECT_NE(ById(*r, 1).failure.find("failed 3 times"), std::string::npos) << ById(*r, 1).failure;
}

// The first release discarded a failed model_failed append and let retention delete the
// model's checkpoint anyway: the journal then named a file that was gone.
TEST(RunLoopTest, AFailureRecordThatCannotBeJournaledNeverLeavesTheJournalNamingADeletedState) {
  TempDir tmp;
  FailingAppends fs([](const std::string&, std::string_view data, int) {
    return data.find("\"model_failed\"") != std::string_view::npos;
  });
  FakeBackend fake;
  exec::FakeUnitMatch m;
  m.model = 1;
  m.epoch = 1;
  m.kind = UnitKind::kTrain;
  fake.FailUnits(m, {exec::CompletionKind::kModelFailed, exec::FailureCause::kException, "boom"}, 1);
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  o.fs = &fs;
  auto r = RunExperiment(Spec(WriteCsv(tmp), 2, ", keep_failed: false"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("disk full"), std::string::npos) << r.status().message();
  // Every state the journal names last for a model is on disk.
  std::map<ModelId, std::string> last;
  for (const auto& rec : JournalOf(tmp.Join("run"))) {
    if (const auto* u = std::get_if<store::UnitDone>(&rec); u && !u->checkpoint.empty()) {
      last[u->model] = u->checkpoint;
    }
  }
  ASSERT_TRUE(last.count(1));
  for (const auto& [model, name] : last) {
    if (model == 1) EXPECT_TRUE(RealFileSystem().Exists(tmp.Join("run/" + name))) << name;
  }
  // And the run resumes (the unit re-runs; this time it succeeds).
  auto again = ResumeExperiment(tmp.Join("run"), FakeOptions("", nullptr));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ById(*again, 1).status, ModelStatus::kCompleted);
}

TEST(RunLoopTest, AWorkerThatCannotBeRestartedEndsTheRunWhenNoOtherHoldsItsPartition) {
  TempDir tmp;
  FakeBackend fake;
  fake.FailSubmission(0, {exec::CompletionKind::kWorkerLost, exec::FailureCause::kWorkerDied, "died"});
  fake.FailRestarts(0, IoError("no memory for a new process"), -1);
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  // Two partitions on two workers: losing one leaves units nobody can run.
  auto r = RunExperiment(Spec(WriteCsv(tmp), 1), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no live worker"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace cerebro::driver

namespace cerebro::driver {
namespace {

// A run stopped (by a failed journal append) in its second epoch, so both models have a
// latest state on disk that resume must read; returns the run directory.
std::string InterruptedRun(const TempDir& tmp, const std::string& name) {
  const std::string dir = tmp.Join(name);
  FailingAppends fs = CrashAtAppend(12);
  RunOptions o = FakeOptions(dir, nullptr);
  o.fs = &fs;
  EXPECT_FALSE(RunExperiment(Spec(WriteCsv(tmp), 3), o).ok());
  return dir;
}

// The latest state the journal names for `model`.
std::string LatestState(const std::string& run_dir, ModelId model) {
  std::string name;
  for (const auto& rec : JournalOf(run_dir)) {
    if (const auto* u = std::get_if<store::UnitDone>(&rec); u && u->model == model && !u->checkpoint.empty()) {
      name = u->checkpoint;
    }
  }
  return name;
}

TEST(RunStateVerificationTest, AnEmptyTruncatedOrFlippedStateStopsTheResumeNamingTheFile) {
  TempDir tmp;
  struct Damage {
    const char* what;
    std::function<std::string(std::string)> apply;
  } damages[] = {
      {"empty", [](std::string) { return std::string(); }},
      {"truncated", [](std::string s) { return s.substr(0, s.size() / 2); }},
      {"flipped", [](std::string s) { s[s.size() / 2] ^= 0x10; return s; }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    const std::string dir = InterruptedRun(tmp, std::string("run_") + d.what);
    const std::string state = LatestState(dir, 0);
    ASSERT_FALSE(state.empty());
    const std::string path = dir + "/" + state;
    ASSERT_TRUE(RealFileSystem().WriteFileAtomic(path, d.apply(Slurp(path))).ok());
    auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find(state), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("model 0"), std::string::npos) << r.status().message();
  }
}

TEST(RunStateVerificationTest, AnUndamagedInterruptedRunResumes) {
  TempDir tmp;
  const std::string dir = InterruptedRun(tmp, "run");
  auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted);
}

TEST(RunStateVerificationTest, ResumeRefusesDataThatIsNotWhatTheRunTrainedOn) {
  TempDir tmp;
  {  // a partition's values overwritten (its size unchanged)
    const std::string dir = InterruptedRun(tmp, "overwritten");
    const std::string path = dir + "/data/train_000.x.npy";
    std::string bytes = Slurp(path);
    ASSERT_GT(bytes.size(), 200u);
    for (size_t i = 128; i < bytes.size(); ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    ASSERT_TRUE(RealFileSystem().WriteFileAtomic(path, bytes).ok());
    auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find("train_000.x.npy"), std::string::npos) << r.status().message();
  }
  {  // re-prepared with another seed
    const std::string dir = InterruptedRun(tmp, "reprepared");
    spec::ExperimentSpec s = Spec(WriteCsv(tmp), 3);
    data::PrepareOptions prep;
    prep.num_train_partitions = prep.num_val_partitions = 2;
    prep.seed = 99;
    ASSERT_TRUE(RealFileSystem().RemoveAll(dir + "/data").ok());
    ASSERT_TRUE(data::Prepare(ToSourceSpec(s), prep, dir + "/data").ok());
    auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("seed"), std::string::npos) << r.status().message();
  }
}

TEST(RunLockTest, ASecondWriterIsRefusedNamingTheHolder) {
  TempDir tmp;
  const std::string dir = InterruptedRun(tmp, "run");
  auto holder = store::RunLock::Acquire(dir, false);  // as another resume would
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  auto r = ResumeExperiment(dir, FakeOptions("", nullptr));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("in use by process " + std::to_string(::getpid())),
            std::string::npos)
      << r.status().message();
  const std::string journal = Slurp(dir + "/journal.jsonl");
  holder->reset();
  EXPECT_EQ(Slurp(dir + "/journal.jsonl"), journal);  // the refused one wrote nothing
  EXPECT_TRUE(ResumeExperiment(dir, FakeOptions("", nullptr)).ok());
}

}  // namespace
}  // namespace cerebro::driver

namespace cerebro::driver {
namespace {

// A fake clock that the fake backend moves on while it "waits" for hung units, and a run
// on both.
class HungWorkerTest : public ::testing::Test {
 protected:
  HungWorkerTest() : fake_(Options()) {}
  exec::FakeBackendOptions Options() {
    exec::FakeBackendOptions fo;
    fo.advance_clock = [this](double seconds) { now_ += seconds; };
    return fo;
  }
  StatusOr<RunResult> Run(int epochs, const std::string& run_extra) {
    RunOptions o = FakeOptions(tmp_.Join("run"), &fake_);
    o.clock = [this] { return now_; };
    return RunExperiment(Spec(WriteCsv(tmp_), epochs, run_extra), o);
  }
  std::vector<store::WorkerLost> Hung(const std::string& run_dir) {
    std::vector<store::WorkerLost> out;
    for (const auto& rec : JournalOf(run_dir)) {
      const auto* x = std::get_if<store::WorkerLost>(&rec);
      if (x != nullptr && x->cause == "hung") out.push_back(*x);
    }
    return out;
  }
  TempDir tmp_;
  double now_ = 1000;
  FakeBackend fake_;
};

// A worker that stops answering (SIGSTOP, a livelock, a node cut off) would hang the run
// forever: its unit is declared lost once it runs past its limit, the worker replaced and
// the unit re-run.
TEST_F(HungWorkerTest, AUnitPastItsLimitIsReRunOnAReplacedWorker) {
  exec::FakeUnitMatch m;
  m.model = 1;
  m.epoch = 1;
  m.kind = UnitKind::kTrain;
  fake_.HangUnits(m, 1);
  auto r = Run(2, ", unit_timeout_min_seconds: 30");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& model : r->models) EXPECT_EQ(model.status, ModelStatus::kCompleted);
  auto hung = Hung(r->run_dir);
  ASSERT_EQ(hung.size(), 1u);
  EXPECT_EQ(hung[0].model, 1);
  EXPECT_NE(hung[0].error.find("reaching its limit of 30 s"), std::string::npos) << hung[0].error;
  EXPECT_GE(now_, 1030);  // it waited for the limit, no more than needed
  EXPECT_LT(now_, 1031);
  int restarts = 0;
  for (const auto& e : fake_.events()) restarts += e.type == exec::FakeEvent::Type::kRestart;
  EXPECT_EQ(restarts, 1);
}

// Before any unit of a kind finished there is no "expected" time: the generous
// first-unit limit applies.
TEST_F(HungWorkerTest, TheFirstUnitsAreHeldToTheFirstUnitLimit) {
  exec::FakeUnitMatch first;
  first.epoch = 0;
  first.kind = UnitKind::kTrain;
  fake_.HangUnits(first, 2);  // both models' first units: no training unit ever finishes first
  auto r = Run(1, ", first_unit_timeout_seconds: 500");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Hung(r->run_dir).size(), 2u);
  EXPECT_GE(now_, 1500);
  EXPECT_LT(now_, 1501);  // both were submitted at once and replaced together
  for (const auto& model : r->models) EXPECT_EQ(model.status, ModelStatus::kCompleted);
}

// Once a unit of the kind finished, a model without finished units of its own is held to
// the run's median-based limit (here the floor, 60 s), not the first-unit one.
TEST_F(HungWorkerTest, OtherModelsFinishedUnitsSetTheLimitOfAModelWithoutAny) {
  exec::FakeUnitMatch m;
  m.model = 0;
  m.epoch = 0;
  m.kind = UnitKind::kTrain;
  fake_.HangUnits(m, 1);  // model 0's very first unit; model 1's units finish meanwhile
  auto r = Run(1, ", first_unit_timeout_seconds: 500");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Hung(r->run_dir).size(), 1u);
  EXPECT_GE(now_, 1060);
  EXPECT_LT(now_, 1061);
}

}  // namespace
}  // namespace cerebro::driver

namespace cerebro::driver {
namespace {

// Commands a user sends: each one record, applied at the touched model's next epoch
// boundary, acknowledged with a line; refusals change nothing.
class CommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto q = QueueCommandSource::Create();
    ASSERT_TRUE(q.ok());
    queue_ = std::move(q).value();
  }
  // Pushes `c` when the n-th unit of the run has finished; records the reply.
  class PushAt final : public RunObserver {
   public:
    PushAt(CommandTest* t, int n, Command c) : t_(t), n_(n), c_(std::move(c)) {}
    Status OnUnitDone(const RunView&, const store::UnitDone&) override {
      if (++seen_ == n_) {
        t_->queue_->Push(c_, [this](const Status& st, const std::string& m) {
          status = st;
          message = m;
        });
      }
      return Status::Ok();
    }
    Status status = Internal("no reply");
    std::string message;

   private:
    CommandTest* t_;
    int n_, seen_ = 0;
    Command c_;
  };
  RunOptions Options(const std::string& out) {
    RunOptions o = FakeOptions(out, nullptr);
    o.commands = queue_.get();
    return o;
  }
  TempDir tmp_;
  std::unique_ptr<QueueCommandSource> queue_;
};

TEST_F(CommandTest, AStopSentMidEpochLandsWhenThatEpochEnds) {
  PushAt push(this, 1, search::StopModel{0, ""});  // model 0 has one unit of epoch 1 then
  RunOptions o = Options(tmp_.Join("run"));
  o.observers.push_back(&push);
  auto r = RunExperiment(Spec(WriteCsv(tmp_), 3), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(push.status.ok()) << push.status.ToString();
  EXPECT_EQ(push.message, "model 0 stops when its current epoch ends");
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kStopped);
  EXPECT_EQ(ById(*r, 0).history.size(), 1u);  // the epoch it was in was finished, no more
  EXPECT_EQ(ById(*r, 0).failure, "stopped by the user");
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kCompleted);
}

TEST_F(CommandTest, ACloneStartsFromTheSourcesStateWithTheNewParams) {
  PushAt push(this, 5, CloneModel{0, spec::Json{{"lr", 0.5}}, 2});
  RunOptions o = Options(tmp_.Join("run"));
  o.observers.push_back(&push);
  auto r = RunExperiment(Spec(WriteCsv(tmp_), 3), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(push.status.ok()) << push.status.ToString();
  ASSERT_EQ(r->models.size(), 3u);
  const ModelOutcome& clone = ById(*r, 2);
  EXPECT_EQ(clone.params["lr"], 0.5);
  EXPECT_EQ(clone.params["hidden"], ById(*r, 0).params["hidden"]);
  EXPECT_EQ(clone.origin, store::ModelOrigin::kControl);
  EXPECT_EQ(clone.parent, 0);
  EXPECT_EQ(clone.history.size(), 2u);
  EXPECT_NE(push.message.find("added model 2, warm-started from model 0"), std::string::npos)
      << push.message;
}

TEST_F(CommandTest, BadCommandsAreRefusedWithOneLineAndChangeNothing) {
  struct Case {
    Command command;
    std::string expected;
  } cases[] = {
      {search::StopModel{9, ""}, "model 9: no such model"},
      {search::ExtendModel{0, 1}, "already has 2 epochs"},
      {search::AddModel{spec::Json{{"model", "mlp"}, {"hidden", "wide"}}, 2, -1}, "hidden"},
      {CloneModel{7, spec::Json::object(), 0}, "model 7: no such model"},
  };
  std::vector<std::unique_ptr<PushAt>> pushes;
  RunOptions o = Options(tmp_.Join("run"));
  for (const Case& c : cases) {
    pushes.push_back(std::make_unique<PushAt>(this, 2, c.command));
    o.observers.push_back(pushes.back().get());
  }
  auto r = RunExperiment(Spec(WriteCsv(tmp_), 2), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t i = 0; i < pushes.size(); ++i) {
    EXPECT_FALSE(pushes[i]->status.ok()) << cases[i].expected;
    EXPECT_NE(pushes[i]->status.message().find(cases[i].expected), std::string::npos)
        << pushes[i]->status.message();
    EXPECT_EQ(pushes[i]->status.message().find('\n'), std::string::npos);
  }
  for (const auto& rec : JournalOf(r->run_dir)) {
    EXPECT_FALSE(std::holds_alternative<store::ModelStopped>(rec));
    EXPECT_FALSE(std::holds_alternative<store::ModelExtended>(rec));
    EXPECT_FALSE(std::holds_alternative<store::ModelAdded>(rec));
  }
  EXPECT_EQ(r->models.size(), 2u);
}

// A command accepted (journaled) before the driver died is applied after resume.
TEST_F(CommandTest, AnAcceptedStopSurvivesACrashOfTheDriver) {
  PushAt push(this, 1, search::StopModel{0, ""});
  FailingAppends fs = CrashAtAppend(6);  // after the stop record, before model 0's epoch ends
  RunOptions o = Options(tmp_.Join("run"));
  o.observers.push_back(&push);
  o.fs = &fs;
  ASSERT_FALSE(RunExperiment(Spec(WriteCsv(tmp_), 3), o).ok());
  bool journaled = false;
  for (const auto& rec : JournalOf(tmp_.Join("run"))) {
    journaled = journaled || std::holds_alternative<store::ModelStopped>(rec);
  }
  ASSERT_TRUE(journaled);
  auto r = ResumeExperiment(tmp_.Join("run"), FakeOptions("", nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ById(*r, 0).status, ModelStatus::kStopped);
  EXPECT_EQ(ById(*r, 0).history.size(), 1u);
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kCompleted);
}

}  // namespace
}  // namespace cerebro::driver

namespace cerebro::driver {
namespace {

// Replaces every model that fails with a fresh one (once), as TPE refills a slot and
// Hyperband decides a rung whose last model failed: it must be told at once, also when
// the failure is the last thing that happens, and again after a crash right after it.
class ReplaceFailed final : public search::Procedure {
 public:
  StatusOr<std::vector<search::Decision>> Start(const search::Observation&) override {
    return std::vector<search::Decision>{
        search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.1}}, 2, -1},
        search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.01}}, 2, -1}};
  }
  StatusOr<std::vector<search::Decision>> OnEpochDone(const search::Observation&, ModelId) override {
    return std::vector<search::Decision>{};
  }
  StatusOr<std::vector<search::Decision>> OnModelEnded(const search::Observation& run,
                                                       ModelId model) override {
    if (replaced_ || run.models[static_cast<size_t>(model)].status != ModelStatus::kFailed) {
      return std::vector<search::Decision>{};
    }
    replaced_ = true;
    return std::vector<search::Decision>{
        search::AddModel{{{"model", "mlp"}, {"hidden", {4}}, {"lr", 0.05}}, 2, -1}};
  }
  spec::Json SaveState() const override { return {{"replaced", replaced_}}; }
  Status RestoreState(const spec::Json& s) override {
    replaced_ = s.is_object() && s.value("replaced", false);
    return Status::Ok();
  }

 private:
  bool replaced_ = false;
};

ProcedureFactory Replacing() {
  return [](const spec::ExperimentSpec&) -> StatusOr<std::unique_ptr<search::Procedure>> {
    return std::unique_ptr<search::Procedure>(std::make_unique<ReplaceFailed>());
  };
}

TEST(ModelEndedTest, TheProcedureIsToldWhenAModelFailsAndAfterACrashRightThen) {
  TempDir tmp;
  const std::string csv = WriteCsv(tmp);
  auto script = [](FakeBackend& fake) {
    exec::FakeUnitMatch m;
    m.model = 1;
    m.epoch = 1;
    m.kind = UnitKind::kEval;
    fake.FailUnits(m, {exec::CompletionKind::kModelFailed, exec::FailureCause::kException, "boom"}, 1);
  };
  FakeBackend fake;
  script(fake);
  RunOptions o = FakeOptions(tmp.Join("run"), &fake);
  o.procedure_factory = Replacing();
  FailingAppends counting = CrashAtAppend(-1);
  o.fs = &counting;
  auto r = RunExperiment(Spec(csv, 2), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 3u);
  EXPECT_EQ(ById(*r, 1).status, ModelStatus::kFailed);
  EXPECT_EQ(ById(*r, 2).status, ModelStatus::kCompleted);
  // Crash at the append right after the model_failed record (the decision's): resume
  // tells the procedure then, and the replacement is added once.
  int failed_at = 0, n = 0;
  for (const auto& rec : JournalOf(r->run_dir)) {
    ++n;
    if (std::holds_alternative<store::ModelFailed>(rec)) failed_at = n;
  }
  ASSERT_GT(failed_at, 0);
  FakeBackend fake2;
  script(fake2);
  RunOptions crash = FakeOptions(tmp.Join("crashed"), &fake2);
  crash.procedure_factory = Replacing();
  FailingAppends fs = CrashAtAppend(failed_at + 1);  // appends count records; +1: the decision
  crash.fs = &fs;
  ASSERT_FALSE(RunExperiment(Spec(csv, 2), crash).ok());
  RunOptions again = FakeOptions("", nullptr);
  again.procedure_factory = Replacing();
  auto resumed = ResumeExperiment(tmp.Join("crashed"), again);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_EQ(resumed->models.size(), 3u);
  EXPECT_EQ(ById(*resumed, 2).status, ModelStatus::kCompleted);
}

// ---- Prepared data reused (issue 13, item 1) ----

// CEREBRO_CACHE set for one test (tests never use ~/.cache).
class ScopedCache {
 public:
  explicit ScopedCache(const std::string& value) {
    if (const char* old = std::getenv("CEREBRO_CACHE")) old_ = old;
    had_ = std::getenv("CEREBRO_CACHE") != nullptr;
    ::setenv("CEREBRO_CACHE", value.c_str(), 1);
  }
  ~ScopedCache() {
    if (had_) ::setenv("CEREBRO_CACHE", old_.c_str(), 1);
    else ::unsetenv("CEREBRO_CACHE");
  }

 private:
  bool had_ = false;
  std::string old_;
};

std::string MetricsOf(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.csv");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(PreparedStoreTest, ASecondRunOfASpecLinksTheCachedStoreAndTrainsTheSame) {
  TempDir tmp;
  ScopedCache cache(tmp.Join("cache"));
  const spec::ExperimentSpec s = Spec(WriteCsv(tmp), 2);
  auto first = RunExperiment(s, FakeOptions(tmp.Join("one"), nullptr));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = RunExperiment(s, FakeOptions(tmp.Join("two"), nullptr));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  {
    ScopedCache off("off");
    auto plain = RunExperiment(s, FakeOptions(tmp.Join("plain"), nullptr));
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  }
  // One cache entry; both runs' stores are it, and the same as a store prepared without.
  auto entries = RealFileSystem().ListDir(tmp.Join("cache/stores"));
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 1u);
  auto plain_id = data::ComputeStoreIdentity(tmp.Join("plain/data"));
  ASSERT_TRUE(plain_id.ok());
  for (const char* run : {"one", "two"}) {
    auto id = data::ComputeStoreIdentity(tmp.Join(std::string(run) + "/data"));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(*id == *plain_id) << run;
    EXPECT_EQ(MetricsOf(tmp.Join(run)), MetricsOf(tmp.Join("plain"))) << run;
  }
  // The cache can go: the runs keep their data (a resume verifies it).
  ASSERT_TRUE(RealFileSystem().RemoveAll(tmp.Join("cache")).ok());
  EXPECT_TRUE(data::VerifyStoreIdentity(tmp.Join("two/data"), *plain_id).ok());
}

TEST(PreparedStoreTest, DataStoreRunsFromAStoreMadeByPrepare) {
  TempDir tmp;
  ScopedCache off("off");
  spec::ExperimentSpec s = Spec(WriteCsv(tmp), 2);
  auto plain = RunExperiment(s, FakeOptions(tmp.Join("plain"), nullptr));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  data::PrepareOptions prep;
  prep.num_train_partitions = prep.num_val_partitions = 2;
  prep.seed = 3;
  ASSERT_TRUE(data::Prepare(ToSourceSpec(s), prep, tmp.Join("store")).ok());
  spec::ExperimentSpec from_store = s;
  from_store.data = spec::DataSpec();
  from_store.data.store = tmp.Join("store");
  auto r = RunExperiment(from_store, FakeOptions(tmp.Join("run"), nullptr));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(MetricsOf(tmp.Join("run")), MetricsOf(tmp.Join("plain")));
  // Its spec.json names the store; a resume of the run works from its own data/.
  std::ifstream spec_json(tmp.Join("run/spec.json"));
  const std::string text((std::istreambuf_iterator<char>(spec_json)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"store\""), std::string::npos) << text;

  // A store with other partition counts than the run needs is refused, naming both.
  from_store.run.workers = 3;
  auto wrong = RunExperiment(from_store, FakeOptions(tmp.Join("wrong"), nullptr));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("has 2 train and 2 validation partitions; this run needs 3"),
            std::string::npos)
      << wrong.status().message();
}


// Workers are launched before the data is prepared and handed it after; a preparation or
// a worker start that fails stops the launched workers and leaves no run directory.
TEST(PreparedStoreTest, WorkersLaunchBeforePreparationAndStopWhenTheStartFails) {
  TempDir tmp;
  ScopedCache off("off");
  const spec::ExperimentSpec s = Spec(WriteCsv(tmp), 1);
  FakeBackend ok;
  ASSERT_TRUE(RunExperiment(s, FakeOptions(tmp.Join("ok"), &ok)).ok());
  EXPECT_EQ(ok.launched(), 2);
  ASSERT_EQ(ok.setups().size(), 2u);
  EXPECT_EQ(ok.setups()[1].store_dir, tmp.Join("ok/data"));
  EXPECT_FALSE(ok.running());

  spec::ExperimentSpec no_data = s;
  no_data.data = spec::DataSpec();
  no_data.data.store = tmp.Join("no-such-store");
  FakeBackend unprepared;
  auto failed = RunExperiment(no_data, FakeOptions(tmp.Join("unprepared"), &unprepared));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(unprepared.launched(), 2);
  EXPECT_FALSE(unprepared.running());  // shut down
  EXPECT_TRUE(unprepared.submitted().empty());
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Join("unprepared")));

  exec::FakeBackendOptions broken;
  broken.start_status = Internal("worker 1 (cerebro-worker) did not start: exited with status 1");
  FakeBackend unstarted(broken);
  auto not_started = RunExperiment(s, FakeOptions(tmp.Join("unstarted"), &unstarted));
  ASSERT_FALSE(not_started.ok());
  EXPECT_EQ(not_started.status().message(), broken.start_status.message());
  EXPECT_FALSE(unstarted.running());
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Join("unstarted")));
}

}  // namespace
}  // namespace cerebro::driver

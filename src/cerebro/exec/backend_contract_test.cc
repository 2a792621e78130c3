#include "cerebro/exec/backend_contract_test.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "cerebro/common/rng.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::exec {

namespace {
constexpr char kMlp[] =
    R"({"model":"mlp","hidden":[4],"activation":"relu","dropout":0.0,)"
    R"("optimizer":"sgd","lr":0.1,"batch_size":8})";
}  // namespace

StatusOr<std::string> MakeTinyStore(const std::string& dir, int partitions) {
  const std::string csv = dir + "/points.csv";
  {
    std::ofstream out(csv);
    out << "a,b,label\n";
    for (int i = 0; i < 40; ++i) out << (i % 7) * 0.5 << "," << (i % 3) << "," << i % 2 << "\n";
  }
  data::SourceSpec source;
  source.format = "csv";
  source.train_path = csv;
  source.csv_label_column = "label";
  source.val_fraction = 0.25;
  data::PrepareOptions prep;
  prep.seed = 1;
  prep.num_train_partitions = prep.num_val_partitions = partitions;
  const std::string store = dir + "/store";
  RETURN_IF_ERROR(data::Prepare(source, prep, store));
  return store;
}

std::string BackendContractTest::dir_;
std::unique_ptr<Backend> BackendContractTest::backend_;

void BackendContractTest::SetUpTestSuite() {
  char tmpl[] = "/tmp/cerebro_exec_test_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  StatusOr<std::string> store = MakeTinyStore(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
}

void BackendContractTest::TearDownTestSuite() {
  if (backend_) backend_->Shutdown();
  backend_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

void BackendContractTest::SetUp() {
  ASSERT_FALSE(dir_.empty());
  if (!backend_) {
    std::unique_ptr<Backend> b = GetParam().make();
    Status st = b->Launch(1);  // as a run does: launched, then given its store
    ASSERT_TRUE(st.ok()) << st.message();
    st = b->Start({{dir_ + "/store", 0, 0}});
    ASSERT_TRUE(st.ok()) << st.message();
    backend_ = std::move(b);
  }
  StatusOr<std::unique_ptr<Wakeup>> w = Wakeup::Create();
  ASSERT_TRUE(w.ok());
  wake_ = std::move(w).value();
}

UnitRequest BackendContractTest::Unit(UnitKind kind, std::string state, const char* config) {
  UnitRequest r;
  r.unit.model = 0;
  r.unit.kind = kind;
  r.unit.partition = 0;
  r.unit.worker = 0;
  r.model_config_json = config != nullptr ? config : kMlp;
  r.init_seed = 3;
  r.unit_seed = 4;
  if (!state.empty()) r.state = std::make_shared<const std::string>(std::move(state));
  return r;
}

Completion BackendContractTest::Wait() {
  StatusOr<std::optional<Completion>> c = backend_->WaitAny(wake_.get());
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (!c.ok() || !c->has_value()) {
    ADD_FAILURE() << "no completion";
    return Completion{};
  }
  return **c;
}

Completion BackendContractTest::Run(const UnitRequest& r) {
  Status st = backend_->Submit(r);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return Completion{};
  return Wait();
}

TEST_P(BackendContractTest, WithNothingInFlightItWaitsOnTheWakeupAlone) {
  EXPECT_EQ(backend().WaitAny(nullptr).status().code(), StatusCode::kFailedPrecondition);
  wake_->Notify();
  StatusOr<std::optional<Completion>> c = backend().WaitAny(wake_.get());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->has_value());
}

TEST_P(BackendContractTest, ANotifiedWakeupInterruptsTheWaitWithoutLosingTheUnit) {
  ASSERT_TRUE(backend().Submit(Unit(UnitKind::kTrain)).ok());
  wake_->Notify();
  for (int i = 0; i < 2; ++i) {  // not drained by the backend: reported until drained
    StatusOr<std::optional<Completion>> c = backend().WaitAny(wake_.get());
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_FALSE(c->has_value());
  }
  EXPECT_TRUE(wake_->Drain());
  Completion c = Wait();
  EXPECT_EQ(c.kind, CompletionKind::kOk) << c.error;
  EXPECT_EQ(c.cause, FailureCause::kNone);
  EXPECT_FALSE(c.state.empty());
  EXPECT_GT(c.num_examples, 0);
}

TEST_P(BackendContractTest, AnInvalidConfigFailsTheModelAndKeepsTheWorker) {
  Completion c = Run(Unit(UnitKind::kTrain, "", R"({"model":"no-such-family"})"));
  EXPECT_EQ(c.kind, CompletionKind::kModelFailed);
  EXPECT_EQ(c.cause, FailureCause::kInvalidConfig);
  EXPECT_FALSE(c.error.empty());
  EXPECT_EQ(Run(Unit(UnitKind::kEval)).kind, CompletionKind::kOk);
}

TEST_P(BackendContractTest, ACorruptStateIsRetryableAndKeepsTheWorker) {
  Completion c = Run(Unit(UnitKind::kTrain, "these are not the bytes of a model state"));
  EXPECT_EQ(c.kind, CompletionKind::kRetry);
  EXPECT_EQ(c.cause, FailureCause::kStateCorrupt);
  EXPECT_FALSE(c.error.empty());
  Completion trained = Run(Unit(UnitKind::kTrain));
  ASSERT_EQ(trained.kind, CompletionKind::kOk) << trained.error;
  EXPECT_EQ(Run(Unit(UnitKind::kEval, trained.state)).kind, CompletionKind::kOk);
}

// The state moves once: a worker writes the new state to the file it is told and reads
// the next unit's from a file, verified against the size and hash the journal holds.
TEST_P(BackendContractTest, StatesByFileAreWrittenReadAndVerified) {
  if (!backend().WritesCheckpoints()) GTEST_SKIP() << "this backend moves states as bytes";
  const std::string first = scratch_dir() + "/by_file.u1.state";
  UnitRequest train = Unit(UnitKind::kTrain);
  train.out_path = first;
  train.durable = true;
  Completion c = Run(train);
  ASSERT_EQ(c.kind, CompletionKind::kOk) << c.error;
  ASSERT_TRUE(c.state_written);
  EXPECT_TRUE(c.state.empty());  // no bytes crossed back
  std::ifstream in(first, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(c.state_size, bytes.size());
  EXPECT_EQ(c.state_hash, Hash64(bytes.data(), bytes.size()));
  // The same unit by bytes writes the same state.
  Completion by_bytes = Run(Unit(UnitKind::kTrain));
  ASSERT_EQ(by_bytes.kind, CompletionKind::kOk) << by_bytes.error;
  EXPECT_EQ(by_bytes.state, bytes);

  // The next unit reads it (here from the worker's memory: it wrote it), page-cache only.
  UnitRequest next = Unit(UnitKind::kTrain);
  next.state_path = first;
  next.state_size = c.state_size;
  next.state_hash = c.state_hash;
  next.out_path = scratch_dir() + "/by_file.u2.state";
  next.durable = false;
  Completion second = Run(next);
  ASSERT_EQ(second.kind, CompletionKind::kOk) << second.error;
  ASSERT_TRUE(second.state_written);
  Completion chained = Run(Unit(UnitKind::kTrain, bytes));  // the same unit by bytes
  ASSERT_EQ(chained.kind, CompletionKind::kOk) << chained.error;
  EXPECT_EQ(second.state_hash, Hash64(chained.state.data(), chained.state.size()));

  // A file that is not what the journal says is the storage's failure (the driver stops
  // the run, resumable): one line naming the file.
  UnitRequest eval = Unit(UnitKind::kEval);
  eval.state_path = first;
  eval.state_size = c.state_size;
  eval.state_hash = c.state_hash;
  EXPECT_EQ(Run(eval).kind, CompletionKind::kOk);
  std::filesystem::resize_file(first, bytes.size() / 2);
  Completion torn = Run(eval);
  EXPECT_EQ(torn.kind, CompletionKind::kStorageFailed);
  EXPECT_EQ(torn.cause, FailureCause::kStateFile);
  EXPECT_NE(torn.error.find(first + ": " + std::to_string(bytes.size() / 2) +
                            " bytes that do not match the journal"),
            std::string::npos)
      << torn.error;
  EXPECT_EQ(torn.error.find('\n'), std::string::npos);
}

TEST_P(BackendContractTest, AKilledWorkerIsLostUntilRestarted) {
  ASSERT_TRUE(backend().Submit(Unit(UnitKind::kTrain)).ok());
  const int pid = GetParam().worker_pid(backend(), 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  Completion c = Wait();
  // The unit may have ended before the kill landed; then the next one finds the loss.
  if (c.kind == CompletionKind::kOk) c = Run(Unit(UnitKind::kEval));
  EXPECT_EQ(c.kind, CompletionKind::kWorkerLost);
  EXPECT_EQ(c.cause, FailureCause::kWorkerDied);
  EXPECT_FALSE(c.error.empty());
  EXPECT_EQ(backend().Submit(Unit(UnitKind::kEval)).code(), StatusCode::kFailedPrecondition);
  BackendStats before = backend().stats();
  ASSERT_TRUE(backend().RestartWorker(0).ok());
  EXPECT_EQ(backend().stats().workers_started, before.workers_started + 1);
  EXPECT_GE(before.workers_lost, 1);
  EXPECT_EQ(Run(Unit(UnitKind::kEval)).kind, CompletionKind::kOk);
}

// A worker that stops answering (SIGSTOP: alive, silent) is noticed only by the caller's
// deadline: WaitFor times out, and RestartWorker replaces the worker, dropping its unit.
TEST_P(BackendContractTest, AStoppedWorkerTimesOutAndIsReplacedByARestart) {
  const int pid = GetParam().worker_pid(backend(), 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(backend().Submit(Unit(UnitKind::kEval)).ok());
  StatusOr<std::optional<Completion>> c = backend().WaitFor(wake_.get(), 0.3);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->has_value());  // timed out: nothing came back
  ASSERT_TRUE(backend().RestartWorker(0).ok());
  EXPECT_EQ(Run(Unit(UnitKind::kEval)).kind, CompletionKind::kOk);
}

}  // namespace cerebro::exec

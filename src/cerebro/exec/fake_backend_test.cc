#include "cerebro/exec/fake_backend.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

namespace cerebro::exec {
namespace {

UnitRequest Request(ModelId model, int epoch, UnitKind kind, int partition, int worker,
                    std::string state = "") {
  UnitRequest r;
  r.unit.model = model;
  r.unit.epoch = epoch;
  r.unit.kind = kind;
  r.unit.partition = partition;
  r.unit.worker = worker;
  r.model_config_json = "{}";
  if (!state.empty()) r.state = std::make_shared<const std::string>(std::move(state));
  return r;
}

UnitRequest Train(ModelId model, int epoch, int partition, int worker, std::string state = "") {
  return Request(model, epoch, UnitKind::kTrain, partition, worker, std::move(state));
}

std::unique_ptr<FakeBackend> Started(int workers, FakeBackendOptions options = {}) {
  auto b = std::make_unique<FakeBackend>(std::move(options));
  EXPECT_TRUE(b->Start(std::vector<WorkerSetup>(static_cast<size_t>(workers))).ok());
  return b;
}

// The next completion; fails the test when there is none.
Completion Next(FakeBackend& b) {
  StatusOr<std::optional<Completion>> c = b.WaitAny(nullptr);
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (!c.ok() || !c->has_value()) {
    ADD_FAILURE() << "no completion";
    return Completion{};
  }
  return **c;
}

std::unique_ptr<Wakeup> MakeWakeup() {
  StatusOr<std::unique_ptr<Wakeup>> w = Wakeup::Create();
  EXPECT_TRUE(w.ok());
  return std::move(w).value();
}

TEST(FakeBackendTest, CompletesUnitsInSubmissionOrderByDefault) {
  auto b = Started(3);
  ASSERT_TRUE(b->Submit(Train(5, 0, 2, 2)).ok());
  ASSERT_TRUE(b->Submit(Train(3, 0, 0, 0)).ok());
  ASSERT_TRUE(b->Submit(Train(4, 0, 1, 1)).ok());
  EXPECT_EQ(Next(*b).unit.model, 5);
  EXPECT_EQ(Next(*b).unit.model, 3);
  EXPECT_EQ(Next(*b).unit.model, 4);
  EXPECT_EQ(b->WaitAny(nullptr).status().code(), StatusCode::kFailedPrecondition);
}

TEST(FakeBackendTest, LifoAndSeededOrdersAreDeterministic) {
  FakeBackendOptions lifo;
  lifo.order = LifoOrder();
  auto b = Started(2, lifo);
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  ASSERT_TRUE(b->Submit(Train(1, 0, 1, 1)).ok());
  EXPECT_EQ(Next(*b).unit.model, 1);
  EXPECT_EQ(Next(*b).unit.model, 0);

  auto order_of = [](uint64_t seed) {
    FakeBackendOptions o;
    o.order = SeededOrder(seed);
    auto s = Started(8, o);
    for (int m = 0; m < 8; ++m) EXPECT_TRUE(s->Submit(Train(m, 0, m, m)).ok());
    std::vector<ModelId> done;
    for (int m = 0; m < 8; ++m) done.push_back(Next(*s).unit.model);
    return done;
  };
  EXPECT_EQ(order_of(7), order_of(7));
  EXPECT_NE(order_of(7), order_of(8));
}

TEST(FakeBackendTest, ATrainUnitAppendsItsMarkerToTheStateItWasGiven) {
  auto b = Started(2);
  ASSERT_TRUE(b->Submit(Train(3, 0, 1, 0)).ok());
  Completion first = Next(*b);
  EXPECT_EQ(first.kind, CompletionKind::kOk);
  EXPECT_EQ(first.state, "m3e0p1;");
  ASSERT_TRUE(b->Submit(Train(3, 0, 0, 1, first.state)).ok());
  EXPECT_EQ(Next(*b).state, "m3e0p1;m3e0p0;");
  ASSERT_TRUE(b->Submit(Request(3, 0, UnitKind::kEval, 0, 0, "m3e0p1;m3e0p0;")).ok());
  Completion eval = Next(*b);
  EXPECT_EQ(eval.kind, CompletionKind::kOk);
  EXPECT_TRUE(eval.state.empty());  // evaluation returns no state
  BackendStats st = b->stats();
  EXPECT_EQ(st.state_bytes_sent, 7u + 14u);
  EXPECT_EQ(st.state_bytes_received, 7u + 14u);
}

TEST(FakeBackendTest, MetricsComeFromTheDefaultOrTheTestsFunction) {
  auto b = Started(1);
  ASSERT_TRUE(b->Submit(Train(1, 2, 3, 0)).ok());
  Completion c = Next(*b);
  EXPECT_EQ(c.num_examples, 130);
  EXPECT_DOUBLE_EQ(c.loss_sum, 130.0 * 2 / 3);
  EXPECT_EQ(c.correct, 78);  // floor(130 * 3 / 5)

  FakeBackendOptions o;
  o.result = [](const UnitRequest& r) {
    FakeUnitResult x;
    x.loss_sum = r.unit.model + 0.5;
    x.num_examples = 10;
    return x;
  };
  b = Started(1, o);
  ASSERT_TRUE(b->Submit(Train(4, 0, 0, 0)).ok());
  c = Next(*b);
  EXPECT_EQ(c.loss_sum, 4.5);
  EXPECT_EQ(c.num_examples, 10);
}

TEST(FakeBackendTest, AScriptedUnitFailureHappensTheGivenNumberOfTimes) {
  auto b = Started(1);
  FakeUnitMatch match;
  match.model = 2;
  match.kind = UnitKind::kTrain;
  match.partition = 0;
  b->FailUnits(match, {CompletionKind::kRetry, FailureCause::kStateCorrupt, "bad bytes"}, 2);
  ASSERT_TRUE(b->Submit(Train(1, 0, 0, 0)).ok());  // another model: not matched
  EXPECT_EQ(Next(*b).kind, CompletionKind::kOk);
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(b->Submit(Train(2, 0, 0, 0, "s")).ok());
    Completion c = Next(*b);
    if (attempt < 2) {
      EXPECT_EQ(c.kind, CompletionKind::kRetry);
      EXPECT_EQ(c.cause, FailureCause::kStateCorrupt);
      EXPECT_EQ(c.error, "bad bytes");
      EXPECT_TRUE(c.state.empty());
    } else {
      EXPECT_EQ(c.kind, CompletionKind::kOk);
      EXPECT_EQ(c.state, "sm2e0p0;");
    }
  }
  FakeUnitMatch every_eval;
  every_eval.kind = UnitKind::kEval;
  b->FailUnits(every_eval, {CompletionKind::kModelFailed, FailureCause::kNonFinite, "nan"}, -1);
  for (int m = 0; m < 3; ++m) {
    ASSERT_TRUE(b->Submit(Request(m, 0, UnitKind::kEval, 0, 0)).ok());
    EXPECT_EQ(Next(*b).cause, FailureCause::kNonFinite);
  }
}

TEST(FakeBackendTest, TheNthSubmissionCanBeScriptedToFail) {
  auto b = Started(2);
  b->FailSubmission(1, {CompletionKind::kModelFailed, FailureCause::kOutOfMemory, "oom"});
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  ASSERT_TRUE(b->Submit(Train(1, 0, 1, 1)).ok());
  EXPECT_EQ(Next(*b).kind, CompletionKind::kOk);
  Completion c = Next(*b);
  EXPECT_EQ(c.unit.model, 1);
  EXPECT_EQ(c.kind, CompletionKind::kModelFailed);
  EXPECT_EQ(c.cause, FailureCause::kOutOfMemory);
}

TEST(FakeBackendTest, ALostWorkerTakesNoUnitsUntilRestarted) {
  auto b = Started(2);
  b->FailSubmission(0, {CompletionKind::kWorkerLost, FailureCause::kWorkerDied, "killed"});
  ASSERT_TRUE(b->Submit(Train(0, 0, 1, 1)).ok());
  Completion c = Next(*b);
  EXPECT_EQ(c.kind, CompletionKind::kWorkerLost);
  EXPECT_EQ(c.unit.worker, 1);
  EXPECT_TRUE(b->worker_lost(1));
  EXPECT_EQ(b->Submit(Train(0, 0, 1, 1)).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(b->RestartWorker(1).ok());
  EXPECT_FALSE(b->worker_lost(1));
  ASSERT_TRUE(b->Submit(Train(0, 0, 1, 1)).ok());
  EXPECT_EQ(Next(*b).kind, CompletionKind::kOk);
  BackendStats st = b->stats();
  EXPECT_EQ(st.workers_started, 3);
  EXPECT_EQ(st.workers_lost, 1);
}

TEST(FakeBackendTest, ARestartCanBeScriptedToFail) {
  auto b = Started(1);
  b->FailRestarts(0, Internal("partition gone"), 1);
  EXPECT_EQ(b->RestartWorker(0).message(), "partition gone");
  EXPECT_TRUE(b->worker_lost(0));
  EXPECT_EQ(b->Submit(Train(0, 0, 0, 0)).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(b->RestartWorker(0).ok());
  EXPECT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
}

TEST(FakeBackendTest, ARestartDropsTheUnitInFlightOnThatWorker) {
  auto b = Started(2);
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  ASSERT_TRUE(b->Submit(Train(1, 0, 1, 1)).ok());
  ASSERT_TRUE(b->RestartWorker(0).ok());
  EXPECT_EQ(b->units_in_flight(), 1);
  EXPECT_EQ(Next(*b).unit.model, 1);
}

TEST(FakeBackendTest, RefusesABusyWorkerAndASecondUnitOfOneModel) {
  auto b = Started(2);
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  EXPECT_EQ(b->Submit(Train(1, 0, 0, 0)).code(), StatusCode::kFailedPrecondition);
  Status st = b->Submit(Train(0, 0, 1, 1));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("isolation"), std::string::npos);
  EXPECT_EQ(b->Submit(Train(1, 0, 0, 2)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b->submitted().size(), 1u);  // refused requests are not logged
}

TEST(FakeBackendTest, TheLogListsSubmissionsCompletionsAndRestartsInOrder) {
  auto b = Started(2);
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  ASSERT_TRUE(b->Submit(Train(1, 0, 1, 1)).ok());
  (void)Next(*b);
  ASSERT_TRUE(b->RestartWorker(1).ok());
  const std::vector<FakeEvent>& e = b->events();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].type, FakeEvent::Type::kSubmit);
  EXPECT_EQ(e[0].submission, 0);
  EXPECT_EQ(e[1].type, FakeEvent::Type::kSubmit);
  EXPECT_EQ(e[1].unit.model, 1);
  EXPECT_EQ(e[2].type, FakeEvent::Type::kComplete);
  EXPECT_EQ(e[2].unit.model, 0);
  EXPECT_EQ(e[2].submission, 0);
  EXPECT_EQ(e[3].type, FakeEvent::Type::kRestart);
  EXPECT_EQ(e[3].unit.worker, 1);
  EXPECT_EQ(b->submitted()[1].unit.partition, 1);
}

TEST(FakeBackendTest, ANotifiedWakeupIsReportedBeforeCompletionsAndNotDrained) {
  auto b = Started(1);
  auto wake = MakeWakeup();
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  wake->Notify();
  StatusOr<std::optional<Completion>> c = b->WaitAny(wake.get());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  c = b->WaitAny(wake.get());  // still pending: the caller drains it
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_TRUE(wake->Drain());
  c = b->WaitAny(wake.get());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->unit.model, 0);
}

TEST(FakeBackendTest, WithNothingInFlightItSleepsOnTheWakeupAlone) {
  auto b = Started(1);
  EXPECT_EQ(b->WaitAny(nullptr).status().code(), StatusCode::kFailedPrecondition);
  auto wake = MakeWakeup();
  // Whether Notify() runs before or during the wait, the wait returns nullopt.
  std::thread notifier([&] { wake->Notify(); });
  StatusOr<std::optional<Completion>> c = b->WaitAny(wake.get());
  notifier.join();
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
}

TEST(FakeBackendTest, ShutdownIsIdempotentAndEndsTheRun) {
  FakeBackendOptions o;
  o.warnings = {"slow BLAS"};
  auto b = Started(2, o);
  EXPECT_EQ(b->warnings(), std::vector<std::string>{"slow BLAS"});
  ASSERT_TRUE(b->Submit(Train(0, 0, 0, 0)).ok());
  b->Shutdown();
  b->Shutdown();
  EXPECT_EQ(b->num_workers(), 0);
  EXPECT_EQ(b->units_in_flight(), 0);
  EXPECT_EQ(b->Submit(Train(0, 0, 0, 0)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(b->setups().size(), 2u);
}

}  // namespace
}  // namespace cerebro::exec

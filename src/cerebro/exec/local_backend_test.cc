// The Backend contract (backend_contract_test.cc) on LocalBackend, with real
// cerebro-worker processes; and its two-step start: workers launched before their store
// exists, what Shutdown() does to launched workers, and start-up errors, which read the
// same whether or not Launch() came first.
#include "cerebro/exec/local_backend.h"

#include <signal.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>

#include "cerebro/exec/backend_contract_test.h"

namespace cerebro::exec {
namespace {

LocalBackendOptions WithTheBuiltWorker() {
  LocalBackendOptions o;
  o.worker_binary = CEREBRO_WORKER_PATH;
  return o;
}

INSTANTIATE_TEST_SUITE_P(Local, BackendContractTest,
                         ::testing::Values(Under<LocalBackend>("Local", WithTheBuiltWorker())),
                         ByName);

class LocalLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cerebro_launch_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A two-partition store at dir_/store, made now.
  std::string MakeStore() {
    StatusOr<std::string> store = MakeTinyStore(dir_, 2);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? *store : std::string();
  }

  static UnitRequest TrainOn(int worker) {
    UnitRequest r;
    r.unit.model = worker;
    r.unit.kind = UnitKind::kTrain;
    r.unit.partition = worker;
    r.unit.worker = worker;
    r.model_config_json =
        R"({"model":"mlp","hidden":[4],"activation":"relu","dropout":0.0,)"
        R"("optimizer":"sgd","lr":0.1,"batch_size":8})";
    return r;
  }

  // Start()'s error for `setups`, after Launch() or without it.
  static std::string StartError(LocalBackendOptions options, bool launch,
                                const std::vector<WorkerSetup>& setups) {
    LocalBackend b(std::move(options));
    if (launch) {
      Status launched = b.Launch(static_cast<int>(setups.size()));
      EXPECT_TRUE(launched.ok()) << launched.message();
    }
    Status st = b.Start(setups);
    EXPECT_FALSE(st.ok());
    b.Shutdown();
    return st.message();
  }

  std::string dir_;
};

TEST_F(LocalLaunchTest, WorkersLaunchedBeforeTheirStoreExistsTrainOnIt) {
  LocalBackend b(WithTheBuiltWorker());
  ASSERT_TRUE(b.Launch(2).ok());
  EXPECT_EQ(b.num_workers(), 2);
  EXPECT_GT(b.worker_pid(0), 0);  // the processes are up, before any data
  EXPECT_EQ(b.Submit(TrainOn(0)).code(), StatusCode::kFailedPrecondition);  // not started
  const std::string store = MakeStore();  // prepared while they come up
  Status st = b.Start({{store, 0, 0}, {store, 1, 1}});
  ASSERT_TRUE(st.ok()) << st.message();
  for (int w = 0; w < 2; ++w) ASSERT_TRUE(b.Submit(TrainOn(w)).ok());
  for (int k = 0; k < 2; ++k) {
    StatusOr<std::optional<Completion>> c = b.WaitAny(nullptr);
    ASSERT_TRUE(c.ok() && c->has_value()) << c.status().message();
    EXPECT_EQ((*c)->kind, CompletionKind::kOk) << (*c)->error;
    EXPECT_GT((*c)->num_examples, 0);
  }
  EXPECT_EQ(b.stats().workers_started, 2);
  // A restarted worker is given its store on the command line and comes back the same.
  ASSERT_TRUE(b.RestartWorker(1).ok());
  ASSERT_TRUE(b.Submit(TrainOn(1)).ok());
  StatusOr<std::optional<Completion>> c = b.WaitAny(nullptr);
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status().message();
  EXPECT_EQ((*c)->kind, CompletionKind::kOk) << (*c)->error;
  EXPECT_EQ(b.Start({{store, 0, 0}, {store, 1, 1}}).code(), StatusCode::kFailedPrecondition);
}

TEST_F(LocalLaunchTest, ShutdownAfterLaunchAloneStopsTheLaunchedWorkers) {
  LocalBackend b(WithTheBuiltWorker());
  ASSERT_TRUE(b.Launch(2).ok());
  const int pids[2] = {b.worker_pid(0), b.worker_pid(1)};
  b.Shutdown();  // as a run whose preparation failed does
  EXPECT_EQ(b.num_workers(), 0);
  for (int pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), -1) << "worker " << pid << " outlived Shutdown()";  // reaped
    EXPECT_EQ(errno, ESRCH);
  }
}

TEST_F(LocalLaunchTest, StartErrorsReadTheSameWithOrWithoutLaunch) {
  const std::string missing = dir_ + "/no-such-store";
  const std::string no_store = StartError(WithTheBuiltWorker(), false, {{missing, 0, 0}});
  EXPECT_EQ(StartError(WithTheBuiltWorker(), true, {{missing, 0, 0}}), no_store);
  EXPECT_EQ(no_store.find('\n'), std::string::npos) << no_store;
  EXPECT_NE(no_store.find(missing), std::string::npos) << no_store;

  // A worker that dies coming up: the one-line "did not start" either way.
  LocalBackendOptions broken;
  broken.worker_binary = "/bin/false";
  const std::string died = StartError(broken, false, {{MakeStore(), 0, 0}});
  EXPECT_EQ(died, "worker 0 (/bin/false) did not start: exited with status 1");
  EXPECT_EQ(StartError(broken, true, {{dir_ + "/store", 0, 0}}), died);

  LocalBackend wrong_count(WithTheBuiltWorker());
  ASSERT_TRUE(wrong_count.Launch(2).ok());
  EXPECT_EQ(wrong_count.Start({{dir_ + "/store", 0, 0}}).code(), StatusCode::kInvalidArgument);

  LocalBackendOptions absent;
  absent.worker_binary = dir_ + "/no-such-worker";
  LocalBackend b(absent);
  EXPECT_EQ(b.Launch(1).code(), StatusCode::kNotFound);  // known at once: Launch says it
}

}  // namespace
}  // namespace cerebro::exec

// The Backend contract, checked on a real backend: the wakeable wait and the failure
// classes as a worker reports them, on a tiny store made with data::Prepare.
// backend_contract_test.cc holds the tests; each backend's test file instantiates them
// with a BackendUnderTest (local_backend_test.cc, ray/ray_backend_test.cc). One backend
// (one worker) per binary, started on first use; every test leaves it idle and alive.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "cerebro/exec/backend.h"

namespace cerebro::exec {

struct BackendUnderTest {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
  std::function<int(Backend&, int worker)> worker_pid;  // the OS process of a worker
};

// A B(options) under test; B has worker_pid(int) (the process tests kill).
template <typename B, typename Options>
BackendUnderTest Under(std::string name, Options options) {
  BackendUnderTest b;
  b.name = std::move(name);
  b.make = [options] { return std::unique_ptr<Backend>(std::make_unique<B>(options)); };
  b.worker_pid = [](Backend& backend, int w) { return dynamic_cast<B&>(backend).worker_pid(w); };
  return b;
}

// gtest prints a parameter by its name (not its bytes) in test listings.
inline void PrintTo(const BackendUnderTest& b, std::ostream* os) { *os << b.name; }

// INSTANTIATE_TEST_SUITE_P(Name, BackendContractTest, Values(Under<...>(...)), ByName).
inline std::string ByName(const ::testing::TestParamInfo<BackendUnderTest>& info) {
  return info.param.name;
}

// Prepares a tiny store (40 CSV rows: 2 features, 2 classes; seed 1) at `dir`/store with
// `partitions` train and validation partitions (the CSV goes beside it); returns its path.
StatusOr<std::string> MakeTinyStore(const std::string& dir, int partitions = 1);

class BackendContractTest : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  Backend& backend() { return *backend_; }
  // A unit of model 0 on worker 0 / partition 0.
  static UnitRequest Unit(UnitKind kind, std::string state = "", const char* config = nullptr);
  // A scratch directory the suite removes at its end.
  static const std::string& scratch_dir() { return dir_; }
  // Submits `r` and waits, with the test's Wakeup (not notified), for its completion.
  Completion Run(const UnitRequest& r);
  // WaitAny(wake_) that must return a completion.
  Completion Wait();

  std::unique_ptr<Wakeup> wake_;

 private:
  static std::string dir_;
  static std::unique_ptr<Backend> backend_;
};

}  // namespace cerebro::exec

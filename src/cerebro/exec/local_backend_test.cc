// The Backend contract (backend_contract_test.cc) on LocalBackend, with real
// cerebro-worker processes.
#include "cerebro/exec/local_backend.h"

#include "cerebro/exec/backend_contract_test.h"

namespace cerebro::exec {
namespace {

BackendUnderTest Local() {
  BackendUnderTest b;
  b.name = "Local";
  b.make = [] {
    LocalBackendOptions o;
    o.worker_binary = CEREBRO_WORKER_PATH;
    return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(o));
  };
  b.worker_pid = [](Backend& backend, int w) {
    return dynamic_cast<LocalBackend&>(backend).worker_pid(w);
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(Local, BackendContractTest, ::testing::Values(Local()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace cerebro::exec

// The Backend contract (backend_contract_test.cc) on LocalBackend, with real
// cerebro-worker processes.
#include "cerebro/exec/local_backend.h"

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

}  // namespace
}  // namespace cerebro::exec

// The Backend contract (../backend_contract_test.cc) on RayBackend: its own one-node
// head on loopback, one actor running the real trainer. Labelled "ray" (serial).
#include "cerebro/exec/ray/ray_backend.h"

#include "cerebro/exec/backend_contract_test.h"

namespace cerebro::exec {
namespace {

BackendUnderTest Ray() {
  BackendUnderTest b;
  b.name = "Ray";
  b.make = [] { return std::unique_ptr<Backend>(std::make_unique<RayBackend>(RayBackendOptions{})); };
  b.worker_pid = [](Backend& backend, int w) {
    return dynamic_cast<RayBackend&>(backend).worker_pid(w);
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(Ray, BackendContractTest, ::testing::Values(Ray()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace cerebro::exec

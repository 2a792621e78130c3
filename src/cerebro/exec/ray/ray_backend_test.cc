// The Backend contract (../backend_contract_test.cc) on RayBackend: its own one-node
// head on loopback, one actor running the real trainer. Labelled "ray" (serial).
#include "cerebro/exec/ray/ray_backend.h"

#include "cerebro/exec/backend_contract_test.h"

namespace cerebro::exec {
namespace {

INSTANTIATE_TEST_SUITE_P(Ray, BackendContractTest,
                         ::testing::Values(Under<RayBackend>("Ray", RayBackendOptions{})),
                         ByName);

}  // namespace
}  // namespace cerebro::exec

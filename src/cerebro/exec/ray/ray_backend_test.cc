// The Backend contract (../backend_contract_test.cc) on RayBackend: its own one-node
// head on loopback, one actor running the real trainer, states by file (the default; one
// Ray runtime per process, so the object-store mode is checked end to end instead:
// tests/ray_e2e_test.cc, RayMultiNodeTest). Labelled "ray" (serial).
#include "cerebro/exec/ray/ray_backend.h"

#include "cerebro/exec/backend_contract_test.h"

namespace cerebro::exec {
namespace {

INSTANTIATE_TEST_SUITE_P(Ray, BackendContractTest,
                         ::testing::Values(Under<RayBackend>("Ray", RayBackendOptions{})),
                         ByName);

}  // namespace
}  // namespace cerebro::exec

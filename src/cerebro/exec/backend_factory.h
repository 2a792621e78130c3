// MakeBackend: the one place that knows which Backend implementations exist, so the
// driver picks one by name from the spec ("local" | "ray") without depending on any.
// The Ray backend is compiled in only when the build found Ray's C++ API
// (CEREBRO_WITH_RAY); otherwise asking for it is a clear error. Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "cerebro/common/status.h"
#include "cerebro/exec/backend.h"

namespace cerebro::exec {

struct BackendConfig {
  std::string kind = "local";   // "local" | "ray"
  std::string worker_binary;    // local: cerebro-worker ("" = beside this executable)
  int threads_per_worker = 1;
  std::string ray_address;      // ray: HOST:PORT of a running cluster; "" = start a local head
};

StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendConfig& config);

// Whether this build includes the Ray backend.
bool RayBackendAvailable();

}  // namespace cerebro::exec

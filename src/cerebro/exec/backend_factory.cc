#include "cerebro/exec/backend_factory.h"

#include "cerebro/exec/local_backend.h"

#ifdef CEREBRO_WITH_RAY
#include "cerebro/exec/ray/ray_backend.h"
#endif

namespace cerebro::exec {

bool RayBackendAvailable() {
#ifdef CEREBRO_WITH_RAY
  return true;
#else
  return false;
#endif
}

StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendConfig& config) {
  if (config.kind == "local") {
    LocalBackendOptions o;
    o.worker_binary = config.worker_binary;
    o.threads_per_worker = config.threads_per_worker;
    return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(o));
  }
  if (config.kind == "ray") {
#ifdef CEREBRO_WITH_RAY
    return MakeRayBackend(config);
#else
    return FailedPrecondition(
        "run.backend: this build has no Ray backend (run scripts/setup.sh, which installs "
        "Ray's C++ API, then rebuild)");
#endif
  }
  return InvalidArgument("run.backend: expected local or ray, got '" + config.kind + "'");
}

}  // namespace cerebro::exec

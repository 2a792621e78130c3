// RayBackend: exec::Backend on a Ray cluster through Ray's C++ API. One actor per
// WorkerSetup (CPU = threads_per_worker, each in its own bundle of a SPREAD placement
// group, so actors spread over the nodes and a restarted one follows its bundle to a
// live node when its node died), units are actor tasks.
//
// States by file (the default, states_by_file): WritesCheckpoints() is true, so the
// driver names each unit's input state file and output file in the run directory; the
// actor reads and verifies the one and writes the other itself (the state moves once:
// actor -> storage -> actor), and the driver gets back only sizes and hashes. The run
// directory must then be on storage every node sees, as the data store already is.
// Without (CEREBRO_RAY_STATES=object_store, for clusters whose nodes share no run
// directory): a model's state hops from the actor that produced it to the next one as an
// ObjectRef, resolved by Ray on the receiving actor (never through the driver), and the
// driver fetches each new state once (ray::Get) for its per-unit checkpoint.
//
// This class is ABI 1 like the rest of Cerebro. Ray's code is ABI 0, so it lives in
// libcerebro_ray.so, which this class dlopen()s and drives through the C function table
// of ray_seam.h. With no address it starts and owns a LocalRayHead on loopback:
// Launch() forks its `ray start` and returns; Start() waits for the head, connects and
// creates the actors, which load LibTorch and their partitions there (the actors are not
// created ahead of their data: that would need a load call in the seam).
//
// States by identity (object-store mode): the driver hands back the bytes of a state it got from us. We
// remember, per model, the state id of the last state we returned with its size and a
// 64-bit content hash (common/rng.h Hash64); a request whose bytes match reuses the id
// (hand-off actor to actor), anything else (resume, a retry after a loss or a corrupt
// state) is put into the object store from the driver's bytes.
//
// Waking: Ray's wait cannot watch a file descriptor, so WaitAny(wake) with a Wakeup runs
// ray::Wait in slices of kWakeSliceMs and checks the Wakeup's fd (a zero-timeout poll)
// between them: a notification is seen within ~kWakeSliceMs (100 ms; a person typing
// `cerebro ctl` does not notice), and a waiting driver wakes ~10 times a second, each a
// ray::Wait call of tens of microseconds. Without a Wakeup it blocks in one ray::Wait
// with no timeout; with nothing in flight it sleeps in poll() on the Wakeup alone. Not a
// waiter thread blocked in ray::Wait: an in-flight ray::Wait cannot be cancelled, and
// the seam's ObjectRefs (whose copies and destructors call into Ray's runtime) would
// then be used from two threads while the driver thread submits.
// Not thread-safe: one driver thread calls it. One RayBackend per process at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/exec/backend.h"
#include "cerebro/exec/backend_factory.h"
#include "cerebro/exec/ray/ray_head.h"
#include "cerebro/exec/ray/ray_seam.h"

namespace cerebro::exec {

struct RayBackendOptions {
  std::string address;        // "HOST:PORT" of a running cluster; "" = start a local head
  std::string library;        // libcerebro_ray.so; "" = DefaultRayLibrary()
  int threads_per_worker = 1;
  bool states_by_file = true;  // see the top of this file
};

// $CEREBRO_RAY_LIBRARY, else libcerebro_ray.so beside the running executable, else the
// one in the build tree.
std::string DefaultRayLibrary();

class RayBackend final : public Backend {
 public:
  explicit RayBackend(RayBackendOptions options);
  ~RayBackend() override;

  Status Launch(int n) override;
  Status Start(const std::vector<WorkerSetup>& workers) override;
  int num_workers() const override { return static_cast<int>(workers_.size()); }
  bool WritesCheckpoints() const override { return options_.states_by_file; }
  Status Submit(const UnitRequest& request) override;
  StatusOr<std::optional<Completion>> WaitFor(const Wakeup* wake, double timeout_seconds) override;
  Status RestartWorker(int worker) override;
  void Shutdown() override;
  std::vector<std::string> warnings() const override { return warnings_; }
  BackendStats stats() const override { return stats_; }

  // The OS pid of a worker's actor process (tests kill it), or -1.
  int worker_pid(int worker) const;
  // The cluster address in use (the local head's when we started one).
  const std::string& address() const { return address_; }
  // Hand-off seconds of every unit whose input state came from another unit, in
  // completion order (the actor-to-actor hop; benchmarks report its median).
  const std::vector<double>& handoff_seconds() const { return handoffs_; }
  // Seconds the driver spent fetching new states (ray::Get) for checkpoints.
  double fetch_seconds() const { return fetch_seconds_; }
  // Hand-off benchmark (needs >= 2 workers): see CerebroRaySeam::measure_handoff.
  Status MeasureHandoff(size_t bytes, int iterations, std::vector<double>* hop_ms,
                        std::vector<double>* chain_ms);

 private:
  struct Known {  // the last state we returned for a model
    uint64_t id = 0;
    size_t size = 0;
    uint64_t hash = 0;
    int worker = -1;  // whose actor produced it (its node's object store holds it)
  };
  struct Slot {
    sched::Unit unit;
    bool busy = false;
    bool lost = false;
    uint64_t put_state = 0;  // a state we put for this unit (released on completion)
  };

  Status Load();
  void Forget(int model);
  Completion Finish(const CerebroRayCompletion& rc, const char* err);

  RayBackendOptions options_;
  const CerebroRaySeam* seam_ = nullptr;
  CerebroRayDriver* driver_ = nullptr;
  std::unique_ptr<LocalRayHead> head_;
  int launched_ = 0;  // Launch()'s n; 0 before it and after Shutdown()
  std::string address_;
  std::vector<Slot> workers_;
  std::map<int, Known> known_;  // model -> last state returned
  std::vector<std::string> warnings_;
  BackendStats stats_;
  std::vector<double> handoffs_;
  double fetch_seconds_ = 0;
};

StatusOr<std::unique_ptr<Backend>> MakeRayBackend(const BackendConfig& config);

// Loads libcerebro_ray.so (once per process; never unloaded) and returns its seam.
StatusOr<const CerebroRaySeam*> LoadRaySeam(const std::string& library);

// The environment RayBackend gives a head it starts, and so every Ray worker on it:
// OMP/OpenBLAS/MKL thread counts, OPENBLAS_CORETYPE when OpenBLAS misdetects this
// CPU (a Ray worker cannot re-exec itself like cerebro-worker does), and an empty
// LD_PRELOAD so Ray does not preload its jemalloc (glibc malloc, like cerebro-worker).
// Clusters started by hand want the same variables on `ray start` (README).
std::map<std::string, std::string> RayWorkerEnvironment(int threads_per_worker,
                                                        const std::string& library = "");

// How long one ray::Wait slice lasts when WaitAny() also watches a Wakeup.
constexpr int kWakeSliceMs = 100;

}  // namespace cerebro::exec

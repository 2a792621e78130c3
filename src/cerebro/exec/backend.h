// Backend: moves units of work to workers and completions back. A worker holds one
// train and one validation partition for its whole life; a unit request carries the
// model's configuration and its state as opaque bytes, and the completion returns the
// new state. Backends never interpret model state, and never decide what runs where:
// that is the scheduler's job (sched/hopper.h).
//
// Contract: Submit() hands a unit to an idle worker and returns at once; WaitAny()
// blocks until some submitted unit ends (event-driven: no polling loops) and reports
// it, including a worker that died mid-unit (kind kWorkerLost). After a loss the caller
// decides whether to RestartWorker(). Not thread-safe: one driver thread calls it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/sched/hopper.h"

namespace cerebro::exec {

struct WorkerSetup {
  std::string store_dir;   // partitioned store (data/partition_store.h)
  int train_partition = 0;
  int val_partition = 0;
};

struct UnitRequest {
  sched::Unit unit;              // unit.worker says where it runs
  std::string model_config_json;
  uint64_t init_seed = 0;        // weight init when the state is empty
  uint64_t unit_seed = 0;        // example order and dropout
  std::shared_ptr<const std::string> state;  // null or empty: fresh model
};

enum class CompletionKind {
  kOk,
  kModelFailed,  // the model cannot go on (bad config, exception, OOM, non-finite loss)
  kWorkerLost,   // the worker process died; the unit may be retried elsewhere/later
};

struct Completion {
  sched::Unit unit;
  CompletionKind kind = CompletionKind::kOk;
  std::string error;         // for kModelFailed / kWorkerLost: one line
  double loss_sum = 0;
  double correct = 0;
  int64_t num_examples = 0;
  double compute_seconds = 0;   // the pass itself, measured by the worker
  double state_seconds = 0;     // worker-side state decode + encode
  double transfer_seconds = 0;  // driver-side: sending the request + receiving the result
  double wall_seconds = 0;      // Submit() to completion, as seen by the driver
  std::string state;            // kOk + train unit: the new model state
};

struct BackendStats {
  uint64_t state_bytes_sent = 0;      // model state shipped to workers
  uint64_t state_bytes_received = 0;  // model state shipped back
  int64_t workers_started = 0;        // including restarts
  int64_t workers_lost = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Starts one worker per setup and waits until each has loaded its partitions.
  virtual Status Start(const std::vector<WorkerSetup>& workers) = 0;
  virtual int num_workers() const = 0;
  // Hands a unit to worker request.unit.worker, which must be idle.
  virtual Status Submit(const UnitRequest& request) = 0;
  // Blocks until a submitted unit ends. FailedPrecondition if none is in flight.
  virtual StatusOr<Completion> WaitAny() = 0;
  // Replaces a lost worker with a fresh one that reloads the same partitions.
  virtual Status RestartWorker(int worker) = 0;
  // Stops every worker (idempotent). Called by the destructor too.
  virtual void Shutdown() = 0;
  // Warnings workers reported at start-up (e.g. a slow BLAS), de-duplicated.
  virtual std::vector<std::string> warnings() const = 0;
  virtual BackendStats stats() const = 0;
};

}  // namespace cerebro::exec

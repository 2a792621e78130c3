// Backend: moves units of work to workers and completions back. A worker holds one
// train and one validation partition for its whole life; a unit request carries the
// model's configuration and its state as opaque bytes, and the completion returns the
// new state. Backends never interpret model state, and never decide what runs where:
// that is the scheduler's job (sched/hopper.h).
//
// Start-up comes in two steps so that workers come up while the driver prepares the
// data: Launch(n) starts n workers without data (processes or actors up, LibTorch
// loaded, BLAS detected) and returns without waiting for them; Start(setups) then hands
// worker i setups[i]'s partitions and returns once every worker has launched and loaded
// them (launching them first if Launch() was not called). A worker that fails to come up
// is reported by Start(), never by Launch(), in the same words either way. Shutdown()
// after Launch() alone (the preparation failed) stops the launched workers.
//
// Contract: Submit() hands a unit to an idle worker and returns at once; WaitAny()
// blocks until some submitted unit ends (event-driven: no polling loops) and reports
// it, including a worker that died mid-unit (kind kWorkerLost). After a loss the caller
// decides whether to RestartWorker(). Not thread-safe: one driver thread calls it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cerebro/common/enum_names.h"
#include "cerebro/common/status.h"
#include "cerebro/common/wakeup.h"
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
  // States by file, for a backend that WritesCheckpoints() (else ignored): the input
  // state is the file state_path (empty: `state` above), which must be state_size bytes
  // hashing to state_hash (Hash64; size 0: unchecked), else the unit ends kRetry /
  // kStateCorrupt. A training unit with out_path writes its new state there atomically
  // (fsync'd first when durable) and returns only its size and hash; without out_path it
  // returns the bytes in Completion::state.
  std::string state_path;
  uint64_t state_size = 0;
  uint64_t state_hash = 0;
  std::string out_path;
  bool durable = true;
};

// How a unit ended. The two failure classes are kept apart because the driver treats
// them differently: a retryable failure re-queues the unit from the model's last state
// (counting against run.max_unit_retries), a terminal one fails the model at once.
enum class CompletionKind {
  kOk,
  kModelFailed,  // terminal for the model (cause: invalid config, exception, out of
                 // memory, non-finite loss); the worker is fine
  kRetry,        // retryable, the worker is fine: e.g. the state arrived corrupted
  kWorkerLost,   // retryable: the worker died, stopped answering or lost its partition;
                 // the caller decides whether to RestartWorker()
  kStorageFailed,  // the run directory's storage failed under the unit (a state file the
                   // worker reads or writes): neither the model's nor the worker's fault, so
                   // the driver stops the run as when its own write fails; resume continues
                   // it once the storage is fixed (a completed unit is never lost)
};

// Why a unit failed, finer than the kind (journaled and shown to the user).
enum class FailureCause {
  kNone,
  kInvalidConfig,     // kModelFailed
  kException,         // kModelFailed
  kOutOfMemory,       // kModelFailed
  kNonFinite,         // kModelFailed: non-finite training loss
  kStateCorrupt,      // kRetry: the state bytes could not be decoded
  kPartitionMissing,  // kWorkerLost: the worker could not (re)load its data
  kWorkerDied,        // kWorkerLost: crash, kill, broken connection, malformed reply
  kHung,              // the driver gave up on a unit that ran far longer than expected
  kStateFile,         // kStorageFailed: a state file could not be read, does not match the
                      // journal, or could not be written
};

struct Completion {
  sched::Unit unit;
  CompletionKind kind = CompletionKind::kOk;
  FailureCause cause = FailureCause::kNone;
  std::string error;         // for the failure kinds: one line
  double loss_sum = 0;
  double correct = 0;
  int64_t num_examples = 0;
  double compute_seconds = 0;   // the pass itself, measured by the worker
  double state_seconds = 0;     // worker-side state decode + encode
  double transfer_seconds = 0;  // driver-side: sending the request + receiving the result
  double wall_seconds = 0;      // Submit() to completion, as seen by the driver
  double file_seconds = 0;      // worker-side reading and writing of state files
  std::string state;            // kOk + train unit without out_path: the new model state
  bool state_written = false;   // kOk + train unit with out_path: it is in that file,
  uint64_t state_size = 0;      // of this size and Hash64
  uint64_t state_hash = 0;
};

struct BackendStats {
  uint64_t state_bytes_sent = 0;      // model state shipped to workers (bytes, not files)
  uint64_t state_bytes_received = 0;  // model state shipped back (bytes, not files)
  int64_t workers_started = 0;        // including restarts
  int64_t workers_lost = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Begins starting n workers that hold no data yet and returns at once (see the
  // contract above); at most once, before Start(). Errors only for what is known at
  // once (a missing worker executable); a worker that dies coming up is Start()'s to
  // report. The default launches nothing: Start() then does all of it.
  virtual Status Launch(int n) {
    (void)n;
    return Status::Ok();
  }
  // Gives worker i setups[i]'s partitions (launching one worker per setup first if
  // Launch() was not called; after Launch(n), setups.size() must be n) and waits until
  // each has loaded them.
  virtual Status Start(const std::vector<WorkerSetup>& workers) = 0;
  virtual int num_workers() const = 0;
  // Whether workers read and write states by file (UnitRequest::state_path / out_path):
  // they then reach the run directory (on another host: shared storage), and a state
  // crosses no socket. Otherwise states travel as bytes.
  virtual bool WritesCheckpoints() const { return false; }
  // Hands a unit to worker request.unit.worker, which must be idle.
  virtual Status Submit(const UnitRequest& request) = 0;
  // Blocks until a submitted unit ends and returns it, or until `wake` (may be null) is
  // notified and returns nullopt without draining it. With nothing in flight it waits
  // for `wake` alone; FailedPrecondition if nothing is in flight and `wake` is null.
  // A pending notification is reported before any completion (a command is never
  // starved by a stream of completions; a test that notifies first knows the answer).
  // With timeout_seconds >= 0 it also returns nullopt once that much time has passed
  // (how the driver notices a unit that hangs: its worker never answers).
  virtual StatusOr<std::optional<Completion>> WaitFor(const Wakeup* wake,
                                                      double timeout_seconds) = 0;
  // WaitFor without a timeout.
  StatusOr<std::optional<Completion>> WaitAny(const Wakeup* wake) { return WaitFor(wake, -1); }
  // Replaces a lost worker — or one that stopped answering — with a fresh one that
  // reloads the same partitions. A unit still in flight on it is dropped: its
  // completion never comes.
  virtual Status RestartWorker(int worker) = 0;
  // Stops every worker (idempotent). Called by the destructor too.
  virtual void Shutdown() = 0;
  // Warnings workers reported at start-up (e.g. a slow BLAS), de-duplicated.
  virtual std::vector<std::string> warnings() const = 0;
  virtual BackendStats stats() const = 0;
};

}  // namespace cerebro::exec

namespace cerebro {
template <>
struct EnumNames<exec::CompletionKind> {
  static constexpr NamedValue<exec::CompletionKind> kTable[] = {
      {exec::CompletionKind::kOk, "ok"},
      {exec::CompletionKind::kModelFailed, "model_failed"},
      {exec::CompletionKind::kRetry, "retry"},
      {exec::CompletionKind::kWorkerLost, "worker_lost"},
      {exec::CompletionKind::kStorageFailed, "storage_failed"}};
};
template <>
struct EnumNames<exec::FailureCause> {
  static constexpr NamedValue<exec::FailureCause> kTable[] = {
      {exec::FailureCause::kNone, "none"},
      {exec::FailureCause::kInvalidConfig, "invalid_config"},
      {exec::FailureCause::kException, "exception"},
      {exec::FailureCause::kOutOfMemory, "out_of_memory"},
      {exec::FailureCause::kNonFinite, "non_finite"},
      {exec::FailureCause::kStateCorrupt, "state_corrupt"},
      {exec::FailureCause::kPartitionMissing, "partition_missing"},
      {exec::FailureCause::kWorkerDied, "worker_died"},
      {exec::FailureCause::kHung, "hung"},
      {exec::FailureCause::kStateFile, "state_file"}};
};
}  // namespace cerebro

// LocalBackend: W worker *processes* on this machine. Each is the `cerebro-worker`
// executable, talking to the driver over a Unix socket (exec/wire.h); it loads its
// partitions once at start and keeps them in memory. Processes, not threads, so that a
// crash or out-of-memory kill inside one model's unit costs one worker (which the
// driver replaces), never the driver. Workers die with the driver (PR_SET_PDEATHSIG).
// Launch(n) forks the n processes without a store: each loads LibTorch, picks its BLAS
// kernels and reports that it is up, then waits for the LoadFrame that Start() sends
// (exec/wire.h); a restarted worker is given its store on the command line.
// WaitAny() sleeps in one poll() on the sockets of busy workers and the Wakeup's fd: it
// wakes on a reply, a death (EOF) or a notification, never on a timer.
// A kWorkerLost completion (the process died, sent a malformed reply, or has no usable
// partition) leaves the worker stopped until RestartWorker().
// Not thread-safe: one driver thread calls it.
#pragma once

#include <string>
#include <vector>

#include "cerebro/exec/backend.h"

namespace cerebro::exec {

struct LocalBackendOptions {
  // Path to cerebro-worker. Empty: the default one, forked from this process's fork
  // server (fork_server.h) when it has one, else DefaultWorkerBinary() exec'd.
  std::string worker_binary;
  int threads_per_worker = 1;  // torch intra-op + BLAS threads in each worker
};

// The cerebro-worker beside the running executable, or $CEREBRO_WORKER_BINARY.
std::string DefaultWorkerBinary();

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(LocalBackendOptions options);
  ~LocalBackend() override;

  Status Launch(int n) override;
  Status Start(const std::vector<WorkerSetup>& workers) override;
  int num_workers() const override { return static_cast<int>(workers_.size()); }
  bool WritesCheckpoints() const override { return true; }  // workers share this host's disk
  Status Submit(const UnitRequest& request) override;
  StatusOr<std::optional<Completion>> WaitFor(const Wakeup* wake, double timeout_seconds) override;
  Status RestartWorker(int worker) override;
  void Shutdown() override;
  std::vector<std::string> warnings() const override { return warnings_; }
  BackendStats stats() const override { return stats_; }

  // The OS process id of a worker (for tests that kill one), or -1.
  int worker_pid(int worker) const;

 private:
  struct Worker {
    WorkerSetup setup;
    int pid = -1;
    int fd = -1;
    bool busy = false;
    bool lost = false;           // died; waiting for RestartWorker
    bool ready = false;          // has loaded its partitions (else launched, or starting)
    sched::Unit unit;            // the unit in flight when busy
    double submit_time = 0;      // MonotonicSeconds()
    double send_seconds = 0;
  };

  Status Spawn(int index);
  Status AwaitReady(int index);
  Status NotStarted(int index);
  Completion LostCompletion(int index, const std::string& why,
                            FailureCause cause = FailureCause::kWorkerDied);
  Completion Receive(int index);
  void Reap(int index, std::string* how);

  LocalBackendOptions options_;
  std::vector<Worker> workers_;
  std::vector<Completion> pending_;  // losses detected in Submit(), reported by WaitAny()
  std::vector<std::string> warnings_;
  BackendStats stats_;
  bool fork_server_ = false;  // workers come from ForkServer::Get() (Launch decides)
};

}  // namespace cerebro::exec

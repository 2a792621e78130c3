// FakeBackend: an exec::Backend with no processes and no torch, so driver tests run the
// whole run loop (decisions, failures, observers, resume) in milliseconds. Workers are
// slots. Submit() logs the request; WaitAny() completes one in-flight unit, chosen by a
// deterministic order (FIFO of submission unless scripted). A unit's metrics are a
// function of its request (DefaultFakeResult unless the test gives one) and a training
// unit's new state is its input state plus a marker naming the unit ("m3e0p1;"), so
// states, and which unit produced which, can be told apart. Failures are scripted by
// unit or by submission number; restarts can be scripted to fail.
// Stricter than a real backend: a second unit of a model already in flight is refused
// (FailedPrecondition), so a driver that breaks isolation fails its test at once.
// Not thread-safe: one thread calls it (the Wakeup may be notified from any thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cerebro/exec/backend.h"

namespace cerebro::exec {

// What a successful unit reports (wall_seconds = compute_seconds; no transfer time).
struct FakeUnitResult {
  double loss_sum = 0;
  double correct = 0;
  int64_t num_examples = 0;
  double compute_seconds = 0;
};
using FakeResultFn = std::function<FakeUnitResult(const UnitRequest&)>;

// n = 100 + 10 * partition examples, loss_sum = n * (1 + model) / (1 + epoch),
// correct = floor(n * (1 + epoch) / (2 + epoch + model)), compute_seconds = 0.001:
// losses fall and accuracy rises with the epoch, and lower model ids rank better.
FakeUnitResult DefaultFakeResult(const UnitRequest& request);

// The marker a training unit appends to its input state: "m<model>e<epoch>p<partition>;".
std::string FakeStateMarker(const sched::Unit& unit);

struct FakeFailure {
  CompletionKind kind = CompletionKind::kModelFailed;  // never kOk
  FailureCause cause = FailureCause::kException;
  std::string error = "scripted failure";
};

// Which units a scripted failure applies to; kAny (or no kind) matches every value.
struct FakeUnitMatch {
  static constexpr int kAny = -1;
  ModelId model = kAny;
  int epoch = kAny;
  std::optional<UnitKind> kind;
  int partition = kAny;
  bool Matches(const sched::Unit& unit) const;
};

// Picks the in-flight unit that completes next: an index into `in_flight`, the units in
// flight in submission order (never empty). Must return an index < in_flight.size().
using FakeCompletionOrder = std::function<size_t(const std::vector<sched::Unit>& in_flight)>;
FakeCompletionOrder FifoOrder();                  // the oldest submission first (default)
FakeCompletionOrder LifoOrder();                  // the newest first
FakeCompletionOrder SeededOrder(uint64_t seed);   // uniformly at random, from a seed

struct FakeBackendOptions {
  FakeResultFn result = DefaultFakeResult;
  FakeCompletionOrder order = FifoOrder();
  std::vector<std::string> warnings;  // what warnings() reports
  // What Start() returns (after Launch(), as a worker that failed to come up would).
  Status start_status;
  // Called with the timeout when WaitFor() times out because every unit in flight
  // hangs: a test's fake clock moves on by that much (the fake has no clock).
  std::function<void(double seconds)> advance_clock;
};

// The log: every accepted Submit(), every completion WaitAny() returned and every
// successful RestartWorker(), in the order they happened.
struct FakeEvent {
  enum class Type { kSubmit, kComplete, kRestart };
  Type type = Type::kSubmit;
  sched::Unit unit;         // kRestart: only unit.worker is set
  int64_t submission = -1;  // kSubmit, kComplete: the unit's index in submitted()
  CompletionKind kind = CompletionKind::kOk;  // kComplete
};

class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(FakeBackendOptions options = {});
  ~FakeBackend() override = default;

  // Records n; Start() then requires n setups.
  Status Launch(int n) override;
  Status Start(const std::vector<WorkerSetup>& workers) override;
  int num_workers() const override { return static_cast<int>(slots_.size()); }
  Status Submit(const UnitRequest& request) override;
  // Contract of Backend::WaitFor; a pending notification is reported before any
  // completion (checked with a zero-timeout poll on the Wakeup's fd). Hung units never
  // complete: with only those in flight it times out at once (advance_clock), or fails
  // (FailedPrecondition) without a timeout rather than block forever.
  StatusOr<std::optional<Completion>> WaitFor(const Wakeup* wake, double timeout_seconds) override;
  // Drops the unit in flight on `worker`, if any (its completion never comes), as a
  // real backend does when it kills the process.
  Status RestartWorker(int worker) override;
  void Shutdown() override;
  std::vector<std::string> warnings() const override { return options_.warnings; }
  BackendStats stats() const override { return stats_; }

  // Scripting, before or during a run. A submission's failure is decided at Submit().
  // The next `times` submitted units matching `match` fail (times -1: every one).
  void FailUnits(const FakeUnitMatch& match, FakeFailure failure, int times = 1);
  // The next `times` submitted units matching `match` hang: they never complete, and
  // WaitFor() with a timeout then times out; RestartWorker() drops them.
  void HangUnits(const FakeUnitMatch& match, int times = 1);
  // The unit submitted n-th (0-based, counting accepted Submit() calls) fails.
  void FailSubmission(int64_t n, FakeFailure failure);
  // The next `times` RestartWorker(worker) calls return `status` (times -1: every one)
  // and leave the worker lost.
  void FailRestarts(int worker, Status status, int times = 1);

  // Inspection.
  const std::vector<UnitRequest>& submitted() const { return submitted_; }
  const std::vector<FakeEvent>& events() const { return events_; }
  const std::vector<WorkerSetup>& setups() const { return setups_; }
  int launched() const { return launched_; }  // Launch()'s n; 0 when not called
  // Launched or started, and not shut down since.
  bool running() const { return awaiting_start_ > 0 || started_; }
  int units_in_flight() const { return static_cast<int>(in_flight_.size()); }
  bool worker_lost(int worker) const;

 private:
  struct Slot {
    bool busy = false;
    bool lost = false;
  };
  struct InFlight {
    int64_t submission = 0;
    Completion completion;  // prepared at Submit()
    bool hung = false;      // never completes
  };
  struct UnitRule {
    FakeUnitMatch match;
    FakeFailure failure;
    int times = 1;
  };
  struct RestartRule {
    int worker = 0;
    Status status;
    int times = 1;
  };

  std::optional<FakeFailure> TakeFailure(int64_t submission, const sched::Unit& unit);
  Completion Prepare(const UnitRequest& request, int64_t submission);

  FakeBackendOptions options_;
  bool started_ = false;
  int launched_ = 0;        // the last Launch()'s n
  int awaiting_start_ = 0;  // launched, Start() not yet called
  std::vector<WorkerSetup> setups_;
  std::vector<Slot> slots_;
  std::vector<InFlight> in_flight_;  // in submission order
  std::vector<UnitRequest> submitted_;
  std::vector<FakeEvent> events_;
  std::vector<UnitRule> unit_rules_;
  std::vector<std::pair<FakeUnitMatch, int>> hang_rules_;  // (match, times left)
  std::vector<std::pair<int64_t, FakeFailure>> submission_rules_;
  std::vector<RestartRule> restart_rules_;
  BackendStats stats_;
};

}  // namespace cerebro::exec

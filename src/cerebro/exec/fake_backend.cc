#include "cerebro/exec/fake_backend.h"

#include <cmath>
#include <memory>
#include <random>
#include <utility>

#include "cerebro/common/rng.h"
#include "cerebro/exec/wake.h"

namespace cerebro::exec {

FakeUnitResult DefaultFakeResult(const UnitRequest& request) {
  const sched::Unit& u = request.unit;
  FakeUnitResult r;
  r.num_examples = 100 + 10 * u.partition;
  const double n = static_cast<double>(r.num_examples);
  r.loss_sum = n * (1.0 + u.model) / (1.0 + u.epoch);
  r.correct = std::floor(n * (1.0 + u.epoch) / (2.0 + u.epoch + u.model));
  r.compute_seconds = 0.001;
  return r;
}

std::string FakeStateMarker(const sched::Unit& unit) {
  return "m" + std::to_string(unit.model) + "e" + std::to_string(unit.epoch) + "p" +
         std::to_string(unit.partition) + ";";
}

bool FakeUnitMatch::Matches(const sched::Unit& u) const {
  return (model == kAny || model == u.model) && (epoch == kAny || epoch == u.epoch) &&
         (!kind || *kind == u.kind) && (partition == kAny || partition == u.partition);
}

FakeCompletionOrder FifoOrder() {
  return [](const std::vector<sched::Unit>&) -> size_t { return 0; };
}

FakeCompletionOrder LifoOrder() {
  return [](const std::vector<sched::Unit>& in_flight) { return in_flight.size() - 1; };
}

FakeCompletionOrder SeededOrder(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen](const std::vector<sched::Unit>& in_flight) {
    return static_cast<size_t>(UniformBelow(*gen, in_flight.size()));
  };
}

FakeBackend::FakeBackend(FakeBackendOptions options) : options_(std::move(options)) {
  if (!options_.result) options_.result = DefaultFakeResult;
  if (!options_.order) options_.order = FifoOrder();
}

Status FakeBackend::Launch(int n) {
  if (started_ || awaiting_start_ > 0) return FailedPrecondition("fake backend: already launched");
  if (n < 1) return InvalidArgument("fake backend: no workers");
  launched_ = awaiting_start_ = n;
  return Status::Ok();
}

Status FakeBackend::Start(const std::vector<WorkerSetup>& workers) {
  if (started_) return FailedPrecondition("fake backend: already started");
  if (awaiting_start_ > 0 && static_cast<int>(workers.size()) != awaiting_start_) {
    return InvalidArgument("fake backend: " + std::to_string(workers.size()) + " setups for " +
                           std::to_string(awaiting_start_) + " launched workers");
  }
  RETURN_IF_ERROR(options_.start_status);
  awaiting_start_ = 0;
  started_ = true;
  setups_ = workers;
  slots_.assign(workers.size(), Slot{});
  stats_.workers_started += static_cast<int64_t>(workers.size());
  return Status::Ok();
}

void FakeBackend::HangUnits(const FakeUnitMatch& match, int times) {
  hang_rules_.push_back({match, times});
}

void FakeBackend::FailUnits(const FakeUnitMatch& match, FakeFailure failure, int times) {
  unit_rules_.push_back({match, std::move(failure), times});
}

void FakeBackend::FailSubmission(int64_t n, FakeFailure failure) {
  submission_rules_.emplace_back(n, std::move(failure));
}

void FakeBackend::FailRestarts(int worker, Status status, int times) {
  restart_rules_.push_back({worker, std::move(status), times});
}

bool FakeBackend::worker_lost(int worker) const {
  return worker >= 0 && worker < num_workers() && slots_[worker].lost;
}

std::optional<FakeFailure> FakeBackend::TakeFailure(int64_t submission, const sched::Unit& unit) {
  for (const auto& [n, failure] : submission_rules_) {
    if (n == submission) return failure;
  }
  for (UnitRule& rule : unit_rules_) {
    if (rule.times == 0 || !rule.match.Matches(unit)) continue;
    if (rule.times > 0) --rule.times;
    return rule.failure;
  }
  return std::nullopt;
}

Completion FakeBackend::Prepare(const UnitRequest& request, int64_t submission) {
  Completion c;
  c.unit = request.unit;
  if (std::optional<FakeFailure> failure = TakeFailure(submission, request.unit)) {
    c.kind = failure->kind;
    c.cause = failure->cause;
    c.error = failure->error;
    return c;
  }
  const FakeUnitResult r = options_.result(request);
  c.loss_sum = r.loss_sum;
  c.correct = r.correct;
  c.num_examples = r.num_examples;
  c.compute_seconds = r.compute_seconds;
  c.wall_seconds = r.compute_seconds;
  if (request.unit.kind == UnitKind::kTrain) {
    if (request.state) c.state = *request.state;
    c.state += FakeStateMarker(request.unit);
  }
  return c;
}

Status FakeBackend::Submit(const UnitRequest& request) {
  if (!started_) return FailedPrecondition("fake backend: not started");
  const int w = request.unit.worker;
  if (w < 0 || w >= num_workers()) return InvalidArgument("submit: no such worker");
  if (slots_[w].busy || slots_[w].lost) {
    return FailedPrecondition("submit: worker " + std::to_string(w) + " not idle");
  }
  for (const InFlight& f : in_flight_) {
    if (f.completion.unit.model == request.unit.model) {
      return FailedPrecondition("fake backend: model " + std::to_string(request.unit.model) +
                                " already has a unit in flight (isolation)");
    }
  }
  const auto submission = static_cast<int64_t>(submitted_.size());
  submitted_.push_back(request);
  slots_[w].busy = true;
  if (request.state) stats_.state_bytes_sent += request.state->size();
  bool hung = false;
  for (auto& [match, times] : hang_rules_) {
    if (times != 0 && match.Matches(request.unit)) {
      hung = true;
      if (times > 0) --times;
      break;
    }
  }
  in_flight_.push_back({submission, Prepare(request, submission), hung});
  events_.push_back({FakeEvent::Type::kSubmit, request.unit, submission, CompletionKind::kOk});
  return Status::Ok();
}

StatusOr<std::optional<Completion>> FakeBackend::WaitFor(const Wakeup* wake,
                                                        double timeout_seconds) {
  if (WakePending(wake)) return std::optional<Completion>();
  if (in_flight_.empty()) {
    if (wake == nullptr) return FailedPrecondition("wait: no unit in flight");
    RETURN_IF_ERROR(SleepUntilWoken(*wake));
    return std::optional<Completion>();
  }
  std::vector<sched::Unit> units;  // the ones that can complete
  std::vector<size_t> where;
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    if (in_flight_[i].hung) continue;
    units.push_back(in_flight_[i].completion.unit);
    where.push_back(i);
  }
  if (units.empty()) {
    if (timeout_seconds < 0) {
      return FailedPrecondition("fake backend: every unit in flight hangs and the wait has no timeout");
    }
    if (options_.advance_clock) options_.advance_clock(timeout_seconds);
    return std::optional<Completion>();
  }
  const size_t pick = options_.order(units);
  if (pick >= units.size()) return Internal("fake backend: completion order out of range");
  const size_t k = where[pick];
  InFlight done = std::move(in_flight_[k]);
  in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(k));
  Completion& c = done.completion;
  Slot& slot = slots_[c.unit.worker];
  slot.busy = false;
  if (c.kind == CompletionKind::kWorkerLost) {
    slot.lost = true;
    ++stats_.workers_lost;
  }
  stats_.state_bytes_received += c.state.size();
  events_.push_back({FakeEvent::Type::kComplete, c.unit, done.submission, c.kind});
  return std::optional<Completion>(std::move(c));
}

Status FakeBackend::RestartWorker(int worker) {
  if (worker < 0 || worker >= num_workers()) return InvalidArgument("restart: no such worker");
  // The old worker is gone either way, and with it the unit it was running.
  for (size_t k = 0; k < in_flight_.size(); ++k) {
    if (in_flight_[k].completion.unit.worker == worker) {
      in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(k));
      break;
    }
  }
  slots_[worker] = Slot{};
  for (RestartRule& rule : restart_rules_) {
    if (rule.worker != worker || rule.times == 0) continue;
    if (rule.times > 0) --rule.times;
    slots_[worker].lost = true;
    return rule.status;
  }
  ++stats_.workers_started;
  FakeEvent e;
  e.type = FakeEvent::Type::kRestart;
  e.unit.worker = worker;
  events_.push_back(e);
  return Status::Ok();
}

void FakeBackend::Shutdown() {
  started_ = false;
  awaiting_start_ = 0;
  slots_.clear();
  in_flight_.clear();
}

}  // namespace cerebro::exec

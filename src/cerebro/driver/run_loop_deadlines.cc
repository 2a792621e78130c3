// RunLoop, part 3: hung units. A unit running past its deadline is taken as a hung
// worker (README "Nothing lost" has the rule). See run_loop.h for the flow.
#include <algorithm>
#include <cstdio>

#include "cerebro/common/clock.h"
#include "cerebro/common/logging.h"
#include "cerebro/driver/run_loop.h"

namespace cerebro::driver {

// ---- hung units -----------------------------------------------------------------------

double RunLoop::Now() const { return options_.clock ? options_.clock() : MonotonicSeconds(); }

namespace {
constexpr size_t kRecentUnits = 101;  // the median of the recent past is "expected"

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void Remember(std::vector<double>& v, double seconds) {
  if (v.size() == kRecentUnits) v.erase(v.begin());
  v.push_back(seconds);
}
}  // namespace

void RunLoop::RecordUnitSeconds(const sched::Unit& u, double seconds) {
  Remember(model_seconds_[{u.model, u.kind}], seconds);
  Remember(kind_seconds_[u.kind], seconds);
}

double RunLoop::UnitLimit(const sched::Unit& u) const {
  const spec::RunSpec& run = spec_.run;
  auto own = model_seconds_.find({u.model, u.kind});
  if (own != model_seconds_.end()) {
    return std::max(run.unit_timeout_min_seconds, run.unit_timeout_factor * Median(own->second));
  }
  auto any = kind_seconds_.find(u.kind);
  if (any != kind_seconds_.end()) {
    return std::max(run.unit_timeout_min_seconds, run.unit_timeout_factor * Median(any->second));
  }
  return run.first_unit_timeout_seconds;
}

double RunLoop::SecondsToNextDeadline() const {
  double next = -1;
  const double now = Now();
  for (const auto& [w, unit_started] : running_) {
    const double left = std::max(0.0, unit_started.second + UnitLimit(unit_started.first) - now);
    next = next < 0 ? left : std::min(next, left);
  }
  return next;
}

// A worker whose unit ran past its limit stopped answering (stopped, livelocked, a node
// unreachable): it is replaced like a dead one and its unit re-queued from the model's
// last state, which counts against run.max_unit_retries.
Status RunLoop::ReplaceHungWorkers() {
  const double now = Now();
  std::vector<std::pair<WorkerId, sched::Unit>> hung;
  for (const auto& [w, unit_started] : running_) {
    if (now - unit_started.second >= UnitLimit(unit_started.first)) hung.push_back({w, unit_started.first});
  }
  for (const auto& [w, u] : hung) {
    char why[200];
    std::snprintf(why, sizeof(why), "unit ran %.0f s, reaching its limit of %.0f s (run.unit_timeout_*)",
                  now - running_[w].second, UnitLimit(u));
    running_.erase(w);
    --in_flight_;
    LogWarning("worker " + std::to_string(w) + " looks hung: " + why + "; replacing it and re-running model " +
               std::to_string(u.model) + " epoch " + std::to_string(u.epoch + 1) + " partition " +
               std::to_string(u.partition));
    RETURN_IF_ERROR(Commit(store::WorkerLost{w, u.model, u.epoch, u.partition, why,
                                             std::string(EnumName(exec::FailureCause::kHung))}));
    RETURN_IF_ERROR(RestartWorker(w));
  }
  return Status::Ok();
}

}  // namespace cerebro::driver

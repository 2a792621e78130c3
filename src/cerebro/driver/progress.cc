#include "cerebro/driver/progress.h"

#include <algorithm>

#include "cerebro/driver/ranking.h"

namespace cerebro::driver {

Progress ProgressOf(const RunView& run, double elapsed, int64_t units_at_start) {
  Progress p;
  const sched::Hopper& h = run.state.hopper();
  int lowest = -1;
  std::vector<store::ModelOutcome> ranked;
  for (const auto& [id, m] : run.state.models()) {
    const bool live = IsLive(m.outcome.status);
    if (live) {
      p.epochs = std::max(p.epochs, m.epochs);
      int e = h.epochs_done(id) + 1;
      lowest = lowest < 0 ? e : std::min(lowest, e);
    }
    ranked.push_back(m.outcome);
  }
  if (p.epochs == 0) p.epochs = run.spec.run.epochs;
  p.epoch = lowest < 0 ? p.epochs : std::min(lowest, p.epochs);
  p.units_done = h.units_completed();
  const int64_t remaining = h.units_remaining();
  p.units_total = p.units_done + remaining;
  p.elapsed_seconds = elapsed;
  const int64_t done_here = p.units_done - units_at_start;
  if (done_here > 0) p.eta_seconds = elapsed / done_here * remaining;
  p.metric = run.spec.metric.name;
  RankModels(&ranked, spec::Objectives(run.spec));
  if (!ranked.empty() && !ranked[0].history.empty() && ranked[0].status != ModelStatus::kFailed) {
    p.best_model = ranked[0].id;
    p.best_value = MetricOf(ranked[0], p.metric);
  }
  return p;
}

}  // namespace cerebro::driver

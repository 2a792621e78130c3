#include "cerebro/driver/ranking.h"

#include <algorithm>

#include "cerebro/search/pareto.h"

namespace cerebro::driver {
namespace {

int Group(const store::ModelOutcome& m) {
  if (m.status == ModelStatus::kFailed) return 2;
  return m.history.empty() ? 1 : 0;
}

// Ties on the metric: finished models first (completed, then stopped), then live ones.
int StatusOrder(ModelStatus s) {
  switch (s) {
    case ModelStatus::kCompleted: return 0;
    case ModelStatus::kStopped: return 1;
    default: return 2;
  }
}

// Equal on the metric(s): status, then more epochs, then the lower id.
bool TieBreaksBefore(const store::ModelOutcome& a, const store::ModelOutcome& b) {
  if (Group(a) == 0 && Group(b) == 0) {
    if (StatusOrder(a.status) != StatusOrder(b.status)) {
      return StatusOrder(a.status) < StatusOrder(b.status);
    }
    if (a.history.size() != b.history.size()) return a.history.size() > b.history.size();
  }
  return a.id < b.id;
}

}  // namespace

double MetricOf(const store::EpochRow& r, const std::string& metric) {
  return store::MetricValue(store::ModelOutcome{}, r, metric);  // num_parameters: 0
}

double MetricOf(const store::ModelOutcome& m, const std::string& metric) {
  return store::MetricValue(m, m.history.back(), metric);
}

bool Better(double a, double b, spec::Direction d) {
  return d == spec::Direction::kMaximize ? a > b : a < b;
}

bool RanksBefore(const store::ModelOutcome& a, const store::ModelOutcome& b,
                 const std::string& metric, spec::Direction direction) {
  const int ga = Group(a), gb = Group(b);
  if (ga != gb) return ga < gb;
  if (ga == 0) {
    const double va = MetricOf(a, metric), vb = MetricOf(b, metric);
    if (va != vb) return Better(va, vb, direction);
  }
  return TieBreaksBefore(a, b);
}

void RankModels(std::vector<store::ModelOutcome>* models, const std::string& metric,
                spec::Direction direction) {
  std::stable_sort(models->begin(), models->end(),
                   [&](const store::ModelOutcome& a, const store::ModelOutcome& b) {
                     return RanksBefore(a, b, metric, direction);
                   });
  for (size_t i = 0; i < models->size(); ++i) (*models)[i].rank = static_cast<int>(i) + 1;
}

std::vector<int> RankModels(std::vector<store::ModelOutcome>* models,
                            const std::vector<spec::MetricSpec>& objectives) {
  const spec::MetricSpec& first = objectives.front();
  RankModels(models, first.name, first.direction);
  // Group 1 leads the ranking.
  const auto end = std::find_if(models->begin(), models->end(),
                                [](const store::ModelOutcome& m) { return Group(m) != 0; });
  const size_t n = static_cast<size_t>(end - models->begin());
  if (objectives.size() == 1) {  // the front: the models tied with the best
    std::vector<int> best;
    for (size_t i = 0; i < n; ++i) {
      if (MetricOf((*models)[i], first.name) != MetricOf(models->front(), first.name)) break;
      best.push_back((*models)[i].id);
    }
    return best;
  }
  // Re-rank it by front.
  std::vector<search::Point> points;
  for (size_t i = 0; i < n; ++i) {
    search::Point p;
    for (const spec::MetricSpec& o : objectives) p.push_back(MetricOf((*models)[i], o.name));
    points.push_back(std::move(p));
  }
  const std::vector<int> front =
      search::NonDominatedFronts(points, search::DirectionsOf(objectives));
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  // Already sorted by the first objective and the tie-breaks: a stable sort by front
  // keeps that order within each front.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return front[a] < front[b]; });
  std::vector<store::ModelOutcome> ranked;
  std::vector<int> pareto;
  for (size_t i : order) {
    if (front[i] == 0) pareto.push_back((*models)[i].id);
    ranked.push_back(std::move((*models)[i]));
  }
  std::move(ranked.begin(), ranked.end(), models->begin());
  for (size_t i = 0; i < models->size(); ++i) (*models)[i].rank = static_cast<int>(i) + 1;
  return pareto;
}

}  // namespace cerebro::driver

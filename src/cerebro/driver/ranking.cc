#include "cerebro/driver/ranking.h"

#include <algorithm>

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

}  // namespace

double MetricOf(const store::EpochRow& r, const std::string& metric) {
  return metric == "accuracy" ? r.val_accuracy : r.val_loss;
}

bool Better(double a, double b, spec::Direction d) {
  return d == spec::Direction::kMaximize ? a > b : a < b;
}

bool RanksBefore(const store::ModelOutcome& a, const store::ModelOutcome& b,
                 const std::string& metric, spec::Direction direction) {
  const int ga = Group(a), gb = Group(b);
  if (ga != gb) return ga < gb;
  if (ga == 0) {
    const double va = MetricOf(a.history.back(), metric), vb = MetricOf(b.history.back(), metric);
    if (va != vb) return Better(va, vb, direction);
    if (StatusOrder(a.status) != StatusOrder(b.status)) {
      return StatusOrder(a.status) < StatusOrder(b.status);
    }
    if (a.history.size() != b.history.size()) return a.history.size() > b.history.size();
  }
  return a.id < b.id;
}

void RankModels(std::vector<store::ModelOutcome>* models, const std::string& metric,
                spec::Direction direction) {
  std::stable_sort(models->begin(), models->end(),
                   [&](const store::ModelOutcome& a, const store::ModelOutcome& b) {
                     return RanksBefore(a, b, metric, direction);
                   });
  for (size_t i = 0; i < models->size(); ++i) (*models)[i].rank = static_cast<int>(i) + 1;
}

}  // namespace cerebro::driver

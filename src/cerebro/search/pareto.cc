#include "cerebro/search/pareto.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace cerebro::search {
namespace {

// The value oriented so that smaller is better, NaN last.
double Cost(double v, spec::Direction d) {
  if (std::isnan(v)) return std::numeric_limits<double>::infinity();
  return d == spec::Direction::kMaximize ? -v : v;
}

}  // namespace

Directions DirectionsOf(const std::vector<spec::MetricSpec>& objectives) {
  Directions d;
  for (const spec::MetricSpec& o : objectives) d.push_back(o.direction);
  return d;
}

bool Dominates(const Point& a, const Point& b, const Directions& d) {
  bool strictly = false;
  for (size_t k = 0; k < d.size(); ++k) {
    const double ca = Cost(a[k], d[k]), cb = Cost(b[k], d[k]);
    if (ca > cb) return false;
    if (ca < cb) strictly = true;
  }
  return strictly;
}

std::vector<int> NonDominatedFronts(const std::vector<Point>& points, const Directions& d) {
  const size_t n = points.size();
  std::vector<std::vector<size_t>> dominated(n);  // the points i dominates
  std::vector<int> dominators(n, 0);              // how many points dominate i
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      if (Dominates(points[i], points[j], d)) {
        dominated[i].push_back(j);
        ++dominators[j];
      } else if (Dominates(points[j], points[i], d)) {
        dominated[j].push_back(i);
        ++dominators[i];
      }
    }
  }
  std::vector<int> front(n, 0);
  std::vector<size_t> current;
  for (size_t i = 0; i < n; ++i) {
    if (dominators[i] == 0) current.push_back(i);
  }
  for (int f = 0; !current.empty(); ++f) {
    std::vector<size_t> next;
    for (size_t i : current) {
      front[i] = f;
      for (size_t j : dominated[i]) {
        if (--dominators[j] == 0) next.push_back(j);
      }
    }
    current = std::move(next);
  }
  return front;
}

std::vector<double> CrowdingDistances(const std::vector<Point>& points, const Directions& d,
                                      const std::vector<int>& fronts) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const size_t n = points.size();
  std::vector<double> distance(n, 0);
  const int num_fronts = n == 0 ? 0 : *std::max_element(fronts.begin(), fronts.end()) + 1;
  for (int f = 0; f < num_fronts; ++f) {
    std::vector<size_t> members;
    for (size_t i = 0; i < n; ++i) {
      if (fronts[i] == f) members.push_back(i);
    }
    if (members.size() <= 2) {
      for (size_t i : members) distance[i] = kInf;
      continue;
    }
    for (size_t k = 0; k < d.size(); ++k) {
      std::vector<size_t> by = members;
      std::stable_sort(by.begin(), by.end(), [&](size_t a, size_t b) {
        return Cost(points[a][k], d[k]) < Cost(points[b][k], d[k]);
      });
      const double lo = Cost(points[by.front()][k], d[k]), hi = Cost(points[by.back()][k], d[k]);
      distance[by.front()] = distance[by.back()] = kInf;
      const double range = hi - lo;
      if (!(range > 0) || std::isinf(range)) continue;  // all equal, or a NaN at one end
      for (size_t r = 1; r + 1 < by.size(); ++r) {
        const double gap = Cost(points[by[r + 1]][k], d[k]) - Cost(points[by[r - 1]][k], d[k]);
        distance[by[r]] += gap / range;
      }
    }
  }
  return distance;
}

std::vector<size_t> ParetoOrder(const std::vector<Point>& points, const Directions& d,
                                ParetoTieBreak tie) {
  const std::vector<int> front = NonDominatedFronts(points, d);
  std::vector<double> crowding;
  if (tie == ParetoTieBreak::kCrowding) crowding = CrowdingDistances(points, d, front);
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (front[a] != front[b]) return front[a] < front[b];
    if (!crowding.empty() && crowding[a] != crowding[b]) return crowding[a] > crowding[b];
    if (!d.empty()) {
      const double ca = Cost(points[a][0], d[0]), cb = Cost(points[b][0], d[0]);
      if (ca != cb) return ca < cb;
    }
    return a < b;
  });
  return order;
}

}  // namespace cerebro::search

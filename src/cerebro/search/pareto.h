// Pareto dominance for runs with two or more objectives (spec.h's `objectives`): Deb's fast
// non-dominated sort, NSGA-II's crowding distance, and the two orders built from them —
// the ranking's (front, then the first objective) and selection's (front, then crowding,
// then the first objective), which ASHA/Hyperband promotion and MOTPE's good/bad split use.
// A point is one model's objective values, in the spec's order; each objective's direction
// says which way is better. NaN counts as the worst value. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <vector>

#include "cerebro/spec/spec.h"

namespace cerebro::search {

using Point = std::vector<double>;
using Directions = std::vector<spec::Direction>;

// The directions of `objectives`, in order.
Directions DirectionsOf(const std::vector<spec::MetricSpec>& objectives);

// Whether `a` is at least as good as `b` in every objective and better in one. Equal points
// do not dominate each other (they share a front).
bool Dominates(const Point& a, const Point& b, const Directions& d);

// Each point's front: 0 for the non-dominated ones, 1 for those dominated only by front 0,
// and so on (Deb et al. 2002, O(M N^2)).
std::vector<int> NonDominatedFronts(const std::vector<Point>& points, const Directions& d);

// NSGA-II's crowding distance of each point within its own front: per objective, the gap
// between its two neighbours normalised by the front's range, summed; a front's extreme
// points (and every point of a front of one or two) get +infinity. Larger = lonelier.
std::vector<double> CrowdingDistances(const std::vector<Point>& points, const Directions& d,
                                      const std::vector<int>& fronts);

enum class ParetoTieBreak {
  kFirstObjective,  // within a front: the better first objective first (the ranked table)
  kCrowding,        // within a front: larger crowding distance first, then the first
                    // objective (keeps the front's spread when cutting it: selection)
};

// The indices of `points`, best first: by front, then `tie`, then the lower index.
std::vector<size_t> ParetoOrder(const std::vector<Point>& points, const Directions& d,
                                ParetoTieBreak tie);

}  // namespace cerebro::search

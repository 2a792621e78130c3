#include "cerebro/search/pareto.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace cerebro::search {
namespace {

using spec::Direction;
const Directions kAccuracyAndSize = {Direction::kMaximize, Direction::kMinimize};

TEST(ParetoTest, DominanceRespectsEachDirectionAndEqualPointsDoNotDominate) {
  EXPECT_TRUE(Dominates({0.9, 100}, {0.8, 200}, kAccuracyAndSize));
  EXPECT_TRUE(Dominates({0.9, 100}, {0.9, 200}, kAccuracyAndSize));
  EXPECT_FALSE(Dominates({0.9, 200}, {0.8, 100}, kAccuracyAndSize));  // a trade-off
  EXPECT_FALSE(Dominates({0.9, 100}, {0.9, 100}, kAccuracyAndSize));
  const double nan = std::nan("");
  EXPECT_TRUE(Dominates({0.1, 100}, {nan, 100}, kAccuracyAndSize));  // NaN is the worst
}

TEST(ParetoTest, FrontsPeelOffLayerByLayerWithTiesSharingAFront) {
  // accuracy (max), parameters (min).
  const std::vector<Point> p = {
      {0.90, 1000},  // 0: front 0 (best accuracy)
      {0.80, 100},   // 1: front 0 (smallest)
      {0.85, 500},   // 2: front 0 (a trade-off between them)
      {0.80, 1000},  // 3: dominated by 0, 1 and 2 -> front 1
      {0.85, 500},   // 4: equal to 2: front 0 too
      {0.70, 1000},  // 5: dominated by 3 -> front 2
  };
  EXPECT_EQ(NonDominatedFronts(p, kAccuracyAndSize), (std::vector<int>{0, 0, 0, 1, 0, 2}));
  // Flipping a direction changes the fronts: now both objectives are maximized.
  EXPECT_EQ(NonDominatedFronts(p, {Direction::kMaximize, Direction::kMaximize}),
            (std::vector<int>{0, 2, 1, 1, 1, 2}));
  EXPECT_TRUE(NonDominatedFronts({}, kAccuracyAndSize).empty());
}

TEST(ParetoTest, CrowdingFavoursAFrontsExtremesAndItsLonelyPoints) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Point> p = {{0.9, 1000}, {0.89, 900}, {0.5, 100}, {0.6, 200}};
  const std::vector<int> fronts = NonDominatedFronts(p, kAccuracyAndSize);
  ASSERT_EQ(fronts, (std::vector<int>{0, 0, 0, 0}));
  const std::vector<double> c = CrowdingDistances(p, kAccuracyAndSize, fronts);
  EXPECT_EQ(c[0], inf);
  EXPECT_EQ(c[2], inf);
  // Model 3's neighbours span (0.89-0.5)/0.4 and (900-100)/900; model 1's (0.9-0.6)/0.4
  // and (1000-200)/900: model 3 is the lonelier.
  EXPECT_NEAR(c[3], 0.39 / 0.4 + 800.0 / 900, 1e-12);
  EXPECT_NEAR(c[1], 0.30 / 0.4 + 800.0 / 900, 1e-12);
  // A front of one or two is all extremes.
  EXPECT_EQ(CrowdingDistances({{0.5, 1}}, kAccuracyAndSize, {0}), (std::vector<double>{inf}));
}

TEST(ParetoTest, OrdersByFrontThenTheirTieBreakThenIndex) {
  const std::vector<Point> p = {
      {0.80, 1000},  // 0: front 1
      {0.85, 500},   // 1: front 0, middle
      {0.90, 1000},  // 2: front 0, best accuracy
      {0.60, 100},   // 3: front 0, smallest
      {0.84, 400},   // 4: front 0, close to 1
      {0.80, 1000},  // 5: equal to 0
  };
  EXPECT_EQ(ParetoOrder(p, kAccuracyAndSize, ParetoTieBreak::kFirstObjective),
            (std::vector<size_t>{2, 1, 4, 3, 0, 5}));
  // By crowding: the extremes (2 and 3, by accuracy) first, then 1 and 4 by distance
  // ((0.90-0.84)/0.3 + (1000-400)/900 for 1, (0.85-0.60)/0.3 + (500-100)/900 for 4).
  EXPECT_EQ(ParetoOrder(p, kAccuracyAndSize, ParetoTieBreak::kCrowding),
            (std::vector<size_t>{2, 3, 4, 1, 0, 5}));
  // One objective: plain best-first order, ties by index.
  EXPECT_EQ(ParetoOrder({{0.5}, {0.7}, {0.5}}, {Direction::kMaximize}, ParetoTieBreak::kCrowding),
            (std::vector<size_t>{1, 0, 2}));
}

}  // namespace
}  // namespace cerebro::search

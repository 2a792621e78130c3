#include "cerebro/search/space.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace cerebro::search {
namespace {

spec::ExperimentSpec Parse(const std::string& params, const std::string& search = "") {
  std::string text = R"(
data:
  format: csv
  train: /tmp/x.csv
  validation: {fraction: 0.2}
params:
)" + params + search + "run: {seed: 11}\n";
  auto s = spec::ParseSpecString(text, "t.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(GridTest, ExpandsCartesianProductLastParamFastest) {
  auto s = Parse("  model: mlp\n  lr: {choice: [0.1, 0.01]}\n  batch_size: {choice: [32, 64, 128]}\n");
  EXPECT_EQ(GridSize(s), 6);
  auto configs = GenerateConfigs(s);
  ASSERT_TRUE(configs.ok());
  ASSERT_EQ(configs->size(), 6u);
  EXPECT_EQ((*configs)[0].params.dump(), R"({"model":"mlp","lr":0.1,"batch_size":32})");
  EXPECT_EQ((*configs)[1].params["batch_size"], 64);
  EXPECT_EQ((*configs)[3].params["lr"], 0.01);
  std::set<std::string> distinct;
  for (const auto& c : *configs) distinct.insert(c.params.dump());
  EXPECT_EQ(distinct.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*configs)[i].id, i);
}

TEST(GridTest, NoSearchedParamsGivesOneConfig) {
  auto configs = GenerateConfigs(Parse("  model: mlp\n  lr: 0.1\n"));
  ASSERT_TRUE(configs.ok());
  EXPECT_EQ(configs->size(), 1u);
}

TEST(RandomTest, DrawsWithinBoundsAndLogFormsUseBase10Exponents) {
  auto s = Parse(
      "  model: mlp\n  lr: {loguniform: [-4, -2]}\n  dropout: {uniform: [0.1, 0.5]}\n"
      "  batch_size: {quniform: [32, 256, 32]}\n  wd: {qloguniform: [-6, -3, 0.00001]}\n"
      "  activation: {choice: [relu, tanh]}\n",
      "search: {method: random, num_models: 400}\n");
  auto configs = GenerateConfigs(s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  ASSERT_EQ(configs->size(), 400u);
  double min_lr = 1, max_lr = 0;
  int below_1e3 = 0;
  std::set<std::string> acts;
  for (const auto& c : *configs) {
    double lr = c.params["lr"].get<double>();
    min_lr = std::min(min_lr, lr);
    max_lr = std::max(max_lr, lr);
    if (lr < 1e-3) ++below_1e3;
    double d = c.params["dropout"].get<double>();
    EXPECT_GE(d, 0.1);
    EXPECT_LE(d, 0.5);
    ASSERT_TRUE(c.params["batch_size"].is_number_integer());
    int64_t b = c.params["batch_size"].get<int64_t>();
    EXPECT_EQ(b % 32, 0);
    EXPECT_GE(b, 32);
    EXPECT_LE(b, 256);
    double wd = c.params["wd"].get<double>();
    EXPECT_GE(wd, 1e-6 - 1e-12);
    EXPECT_LE(wd, 1e-3 + 1e-12);
    acts.insert(c.params["activation"].get<std::string>());
  }
  EXPECT_GE(min_lr, 1e-4);
  EXPECT_LE(max_lr, 1e-2);
  // Log-uniform over two decades: about half the draws fall in the lower decade.
  EXPECT_GT(below_1e3, 150);
  EXPECT_LT(below_1e3, 250);
  EXPECT_EQ(acts.size(), 2u);
}

TEST(RandomTest, EachParamHasItsOwnStream) {
  auto a = GenerateConfigs(Parse("  model: mlp\n  lr: {uniform: [0, 1]}\n",
                                 "search: {method: random, num_models: 5}\n"));
  auto b = GenerateConfigs(Parse("  model: mlp\n  dropout: {uniform: [0, 1]}\n  lr: {uniform: [0, 1]}\n",
                                 "search: {method: random, num_models: 5}\n"));
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 5; ++i) {
    // Adding `dropout` does not change lr's draws, and the two streams differ.
    EXPECT_EQ((*a)[i].params["lr"], (*b)[i].params["lr"]);
    EXPECT_NE((*b)[i].params["lr"], (*b)[i].params["dropout"]);
  }
}

TEST(RandomTest, SameSeedSameConfigs) {
  auto s = Parse("  model: mlp\n  lr: {loguniform: [-5, -1]}\n", "search: {method: random, num_models: 8}\n");
  auto a = GenerateConfigs(s);
  auto b = GenerateConfigs(s);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ((*a)[i].params, (*b)[i].params);
  s.run.seed = 12;
  auto c = GenerateConfigs(s);
  EXPECT_NE((*a)[0].params, (*c)[0].params);
}

}  // namespace
}  // namespace cerebro::search

#include "cerebro/search/space.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "cerebro/search/procedure_test_util.h"

namespace cerebro::search {
namespace {

spec::ExperimentSpec Parse(const std::string& params, const std::string& search = "") {
  return testing::ParseTestSpec(params, search);
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

// model decides which params exist; momentum exists only for sgd.
const char* kConditional =
    "  model: {choice: [mlp, cnn]}\n"
    "  hidden: {when: {model: mlp}, choice: [[64], [128, 64]]}\n"
    "  conv_channels: {when: {model: cnn}, choice: [[16, 32], [32, 64]]}\n"
    "  kernel_size: {when: {model: cnn}, choice: [3, 5]}\n"
    "  optimizer: {choice: [sgd, adam]}\n"
    "  momentum: {when: {optimizer: sgd}, value: 0.9}\n"
    "  lr: {choice: [0.1, 0.01]}\n";

TEST(ConditionalGridTest, ExpandsOnlyWhatAppliesWithoutDuplicates) {
  auto s = Parse(kConditional);
  // mlp: 2 hidden; cnn: 2 channels x 2 kernels; times 2 optimizers x 2 lr.
  EXPECT_EQ(GridSize(s), (2 + 4) * 2 * 2);
  auto configs = GenerateConfigs(s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  ASSERT_EQ(configs->size(), 24u);
  EXPECT_EQ((*configs)[0].params.dump(),
            R"({"model":"mlp","hidden":[64],"optimizer":"sgd","momentum":0.9,"lr":0.1})");
  EXPECT_EQ((*configs)[2].params.dump(),
            R"({"model":"mlp","hidden":[64],"optimizer":"adam","lr":0.1})");
  EXPECT_EQ((*configs)[8].params.dump(),
            R"({"model":"cnn","conv_channels":[16,32],"kernel_size":3,"optimizer":"sgd",)"
            R"("momentum":0.9,"lr":0.1})");
  std::set<std::string> distinct;
  for (int i = 0; i < 24; ++i) {
    const auto& p = (*configs)[i].params;
    EXPECT_EQ((*configs)[i].id, i);
    distinct.insert(p.dump());
    const bool cnn = p["model"] == "cnn";
    EXPECT_EQ(p.contains("conv_channels"), cnn);
    EXPECT_EQ(p.contains("kernel_size"), cnn);
    EXPECT_EQ(p.contains("hidden"), !cnn);
    EXPECT_EQ(p.contains("momentum"), p["optimizer"] == "sgd");
  }
  EXPECT_EQ(distinct.size(), 24u);
}

TEST(ConditionalGridTest, AnUnconditionalGridIsUnchanged) {
  auto s = Parse("  model: mlp\n  a: {choice: [1, 2]}\n  b: 7\n  c: {choice: [x, y, z]}\n");
  auto configs = GenerateConfigs(s);
  ASSERT_TRUE(configs.ok());
  ASSERT_EQ(configs->size(), 6u);
  std::vector<std::string> want = {"1x", "1y", "1z", "2x", "2y", "2z"};
  for (int i = 0; i < 6; ++i) {
    const auto& p = (*configs)[i].params;
    EXPECT_EQ(std::to_string(p["a"].get<int>()) + p["c"].get<std::string>(), want[i]);
    EXPECT_EQ(p["b"], 7);
  }
}

TEST(ConditionalGridTest, TooLargeAConditionalGridIsRefused) {
  std::string params = "  model: {choice: [mlp, cnn]}\n";
  for (int i = 0; i < 17; ++i) {
    params += "  p" + std::to_string(i) + ": {when: {model: cnn}, choice: [1, 2]}\n";
  }
  auto configs = GenerateConfigs(Parse(params));
  ASSERT_FALSE(configs.ok());
  EXPECT_EQ(configs.status().message(),
            "params: the grid has more than 100000 configurations (at most 100000)");
  EXPECT_EQ(GridSize(Parse(params)), 1 + (int64_t{1} << 17));
}

TEST(ConditionalRandomTest, DrawsAConditionalParamOnlyWhereItsConditionHolds) {
  const std::string search = "search: {method: random, num_models: 200}\n";
  auto s = Parse(
      "  model: {choice: [mlp, cnn]}\n"
      "  conv_channels: {when: {model: cnn}, choice: [[16, 32], [32, 64]]}\n"
      "  lr: {loguniform: [-4, -2]}\n"
      "  optimizer: {choice: [sgd, adam]}\n"
      "  momentum: {when: {optimizer: sgd}, uniform: [0.5, 0.99]}\n",
      search);
  auto configs = GenerateConfigs(s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  int cnn = 0, sgd = 0;
  for (const auto& c : *configs) {
    const auto& p = c.params;
    EXPECT_EQ(p.contains("conv_channels"), p["model"] == "cnn");
    EXPECT_EQ(p.contains("momentum"), p["optimizer"] == "sgd");
    if (p.contains("momentum")) {
      EXPECT_GE(p["momentum"].get<double>(), 0.5);
      EXPECT_LE(p["momentum"].get<double>(), 0.99);
    }
    cnn += p["model"] == "cnn";
    sgd += p["optimizer"] == "sgd";
  }
  EXPECT_GT(cnn, 50);
  EXPECT_LT(cnn, 150);
  EXPECT_GT(sgd, 50);
  EXPECT_LT(sgd, 150);
  // The unconditional params draw exactly what they draw without the conditional ones.
  auto plain = GenerateConfigs(Parse(
      "  model: {choice: [mlp, cnn]}\n  lr: {loguniform: [-4, -2]}\n"
      "  optimizer: {choice: [sgd, adam]}\n",
      search));
  ASSERT_TRUE(plain.ok());
  for (size_t i = 0; i < configs->size(); ++i) {
    for (const char* name : {"model", "lr", "optimizer"}) {
      EXPECT_EQ((*configs)[i].params[name], (*plain)[i].params[name]) << i << " " << name;
    }
  }
}

// What `cerebro configs examples/fashion_mnist/conditional.yaml` lists (grid search's
// procedure adds GenerateConfigs' configurations), without touching the data files.
TEST(ConditionalGridTest, TheExampleSpecGivesItsEightConfigurations) {
  std::ifstream in(std::string(CEREBRO_SOURCE_DIR) + "/examples/fashion_mnist/conditional.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto s = spec::ParseSpecString(text.str(), "conditional.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto configs = GenerateConfigs(*s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  ASSERT_EQ(configs->size(), 8u);
  EXPECT_EQ((*configs)[1].params.dump(),
            R"({"model":"mlp","hidden":[256],"activation":"relu","optimizer":"adam","lr":0.003,)"
            R"("batch_size":128})");
  EXPECT_EQ((*configs)[6].params.dump(),
            R"({"model":"cnn","conv_channels":[16,32],"kernel_size":3,"pool":"max","dense":[64],)"
            R"("activation":"relu","optimizer":"sgd","momentum":0.9,"lr":0.003,"batch_size":128})");
}

}  // namespace
}  // namespace cerebro::search

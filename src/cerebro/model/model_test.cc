#include <gtest/gtest.h>

#include <string>

#include "cerebro/model/registry.h"

namespace cerebro::model {
namespace {

std::string ErrorOf(const std::string& json) {
  auto config = ParseModelConfig(json);
  return config.ok() ? "OK" : config.status().message();
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ModelConfigTest, ParsesCommonKeysAndDefaults) {
  auto config = ParseModelConfig(
      R"({"model":"mlp","hidden":[16,8],"optimizer":"sgd","lr":0.1,"momentum":0.9,)"
      R"("weight_decay":1e-4,"batch_size":64.0,"loss":"cross_entropy"})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->family, "mlp");
  EXPECT_EQ(config->optimizer, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(config->lr, 0.1);
  EXPECT_DOUBLE_EQ(config->momentum, 0.9);
  EXPECT_DOUBLE_EQ(config->weight_decay, 1e-4);
  EXPECT_EQ(config->batch_size, 64);  // an integral float is an integer
  EXPECT_EQ(config->loss, LossKind::kCrossEntropy);
  EXPECT_EQ(config->params.Keys(), (std::vector<std::string>{"hidden"}));

  auto defaults = ParseModelConfig(R"({"model":"cnn"})");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->optimizer, OptimizerKind::kAdam);
  EXPECT_EQ(defaults->loss, LossKind::kDefault);
  EXPECT_EQ(defaults->batch_size, 32);
}

TEST(ModelConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","hidden":[10,-1]})"),
            "params.hidden: expected a list of positive integers");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","hidden":"big"})"),
            "params.hidden: expected a list of positive integers");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"mlp","activation":"swish"})"),
                         "params.activation: expected one of relu"));
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","dropout":1.0})"),
            "params.dropout: expected a number in [0, 1)");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"mlp","hiden":[3]})"),
                         "params.hiden: unknown parameter for model 'mlp'"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"mlp","kernel_size":3})"),
                         "params.kernel_size: unknown parameter"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"hidden":[3]})"), "params.model: required"));
  EXPECT_TRUE(
      StartsWith(ErrorOf(R"({"model":"resnet"})"), "params.model: unknown model family 'resnet'"));
  EXPECT_EQ(ErrorOf(R"({"model":7})"), "params.model: expected a string");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","lr":0})"), "params.lr: expected a number > 0");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","lr":"fast"})"), "params.lr: expected a number");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","momentum":1})"),
            "params.momentum: expected a number in [0, 1)");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","weight_decay":-1})"),
            "params.weight_decay: expected a number >= 0");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","batch_size":0})"),
            "params.batch_size: expected an integer >= 1");
  EXPECT_EQ(ErrorOf(R"({"model":"mlp","batch_size":12.5})"),
            "params.batch_size: expected an integer >= 1");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"mlp","optimizer":"lbfgs"})"),
                         "params.optimizer: expected one of sgd, adam, adamw"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"mlp","loss":"hinge"})"), "params.loss:"));
  EXPECT_EQ(ErrorOf(R"({"model":"cnn","kernel_size":4})"),
            "params.kernel_size: expected an odd positive integer");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"cnn","pool":"min"})"), "params.pool:"));
  EXPECT_TRUE(StartsWith(ErrorOf("[1,2]"), "model config: expected a JSON object"));
  EXPECT_TRUE(StartsWith(ErrorOf("{not json"), "model config: invalid JSON"));
  // One line: the CLI prints it as is.
  EXPECT_EQ(ErrorOf("{not json").find('\n'), std::string::npos);
}

TEST(ModelBuildTest, MlpForwardShape) {
  auto config =
      ParseModelConfig(R"({"model":"mlp","hidden":[32,16],"activation":"gelu","dropout":0.2})");
  ASSERT_TRUE(config.ok());
  auto net = BuildNet(*config, InputSpec{{1, 28, 28}, 10});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  auto y = net->forward(torch::randn({5, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{5, 10}));
  // 784*32+32 + 32*16+16 + 16*10+10
  int64_t count = 0;
  for (const auto& p : net->module->parameters()) count += p.numel();
  EXPECT_EQ(count, 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10);
}

TEST(ModelBuildTest, LinearMlpForRegression) {
  auto config = ParseModelConfig(R"({"model":"mlp"})");
  ASSERT_TRUE(config.ok());
  auto net = BuildNet(*config, InputSpec{{7}, 1});
  ASSERT_TRUE(net.ok());
  EXPECT_EQ(net->forward(torch::randn({3, 7})).sizes(), (std::vector<int64_t>{3, 1}));
}

TEST(ModelBuildTest, CnnForwardShape) {
  auto config = ParseModelConfig(
      R"({"model":"cnn","conv_channels":[4,8],"kernel_size":5,"pool":"avg","dense":[12],)"
      R"("activation":"tanh","dropout":0.1})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto net = BuildNet(*config, InputSpec{{1, 28, 28}, 10});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(net->forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  // Flat rows (how partitions store images) are reshaped by the net itself.
  EXPECT_EQ(net->forward(torch::randn({2, 784})).sizes(), (std::vector<int64_t>{2, 10}));

  // [H, W] images get one channel; pool "none" keeps the size.
  auto no_pool =
      ParseModelConfig(R"({"model":"cnn","conv_channels":[3],"pool":"none","dense":[]})");
  ASSERT_TRUE(no_pool.ok());
  auto net2 = BuildNet(*no_pool, InputSpec{{5, 6}, 3});
  ASSERT_TRUE(net2.ok()) << net2.status().ToString();
  EXPECT_EQ(net2->forward(torch::randn({4, 5, 6})).sizes(), (std::vector<int64_t>{4, 3}));
}

TEST(ModelBuildTest, CnnRejectsImageThatShrinksBelowOnePixel) {
  auto config = ParseModelConfig(R"({"model":"cnn","conv_channels":[4,4,4,4]})");
  ASSERT_TRUE(config.ok());
  auto net = BuildNet(*config, InputSpec{{1, 8, 8}, 10});
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(StartsWith(net.status().message(), "params.conv_channels: the 8x8 image shrinks"))
      << net.status().message();
}

TEST(ModelBuildTest, CnnRejectsFlatFeatures) {
  auto config = ParseModelConfig(R"({"model":"cnn"})");
  ASSERT_TRUE(config.ok());
  auto net = BuildNet(*config, InputSpec{{784}, 10});
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelBuildTest, SameSeedSameWeights) {
  auto config = ParseModelConfig(R"({"model":"mlp","hidden":[8]})");
  ASSERT_TRUE(config.ok());
  torch::manual_seed(7);
  auto a = BuildNet(*config, InputSpec{{4}, 2});
  torch::manual_seed(7);
  auto b = BuildNet(*config, InputSpec{{4}, 2});
  ASSERT_TRUE(a.ok() && b.ok());
  auto pa = a->module->parameters(), pb = b->module->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

// A user family: a single linear layer scaled by "gain", registered by name.
StatusOr<Net> BuildScaledLinear(const Params& p, const InputSpec& input) {
  ASSIGN_OR_RETURN(double gain, p.GetDouble("gain", 1.0));
  int64_t in = 1;
  for (int64_t d : input.feature_shape) in *= d;
  torch::nn::Linear linear(in, input.output_size);
  auto impl = linear.ptr();
  return Net{impl,
             [impl, gain](const torch::Tensor& x) { return impl->forward(x.flatten(1)) * gain; }};
}

Status ValidateScaledLinear(const Params& p) {
  auto gain = p.GetDouble("gain", 1.0);
  if (!gain.ok() || *gain <= 0) return Params::FieldError("gain", "expected a number > 0");
  return Status::Ok();
}

const Registrar kScaledLinear("test_scaled_linear", BuildScaledLinear, {"gain"},
                              ValidateScaledLinear);

TEST(ModelRegistryTest, CustomFamilyUsableByName) {
  auto families = RegisteredFamilies();
  EXPECT_NE(std::find(families.begin(), families.end(), "test_scaled_linear"), families.end());
  EXPECT_NE(std::find(families.begin(), families.end(), "mlp"), families.end());
  auto config = ParseModelConfig(R"({"model":"test_scaled_linear","gain":2.0,"lr":0.01})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto net = BuildNet(*config, InputSpec{{3}, 4});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(net->forward(torch::ones({2, 3})).sizes(), (std::vector<int64_t>{2, 4}));

  EXPECT_EQ(ErrorOf(R"({"model":"test_scaled_linear","gain":-1})"),
            "params.gain: expected a number > 0");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"model":"test_scaled_linear","hidden":[3]})"),
                         "params.hidden: unknown parameter for model 'test_scaled_linear' "
                         "(allowed: gain)"));
}

TEST(ModelRegistryTest, RejectsDuplicateReservedAndMalformedRegistrations) {
  EXPECT_EQ(RegisterFamily("mlp", BuildScaledLinear, {}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterFamily("test_scaled_linear", BuildScaledLinear, {}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterFamily("", BuildScaledLinear, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterFamily("no_factory", nullptr, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterFamily("steals_lr", BuildScaledLinear, {"lr"}).code(),
            StatusCode::kInvalidArgument);
}

TEST(ModelRegistryTest, FactoryExceptionsBecomeStatus) {
  ASSERT_TRUE(
      RegisterFamily(
          "test_throws",
          [](const Params&, const InputSpec&) -> StatusOr<Net> { TORCH_CHECK(false, "boom"); }, {})
          .ok());
  auto config = ParseModelConfig(R"({"model":"test_throws"})");
  ASSERT_TRUE(config.ok());
  auto net = BuildNet(*config, InputSpec{{3}, 1});
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInternal);
  EXPECT_NE(net.status().message().find("boom"), std::string::npos);
}

}  // namespace
}  // namespace cerebro::model

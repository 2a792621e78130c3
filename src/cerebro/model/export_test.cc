#include "cerebro/model/export.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace cerebro::model {
namespace {

Net Build(const std::string& json, const InputSpec& input) {
  auto config = ParseModelConfig(json);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  torch::manual_seed(7);
  auto net = BuildNet(*config, input);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  net->module->eval();
  return *net;
}

// Exports, saves and loads back (what a user's torch.jit.load gets).
torch::jit::Module ExportAndReload(const std::string& json, const InputSpec& input, const Net& net,
                                   double scale) {
  auto config = ParseModelConfig(json);
  auto script = ExportTorchScript(*config, input, net, ExportOptions{scale});
  EXPECT_TRUE(script.ok()) << script.status().ToString();
  std::stringstream bytes;
  script->save(bytes);
  return torch::jit::load(bytes);
}

torch::Tensor Forward(torch::jit::Module& m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return m.forward({x}).toTensor();
}

// `raw` scaled as the data readers do: in double, rounded to float once.
torch::Tensor Scaled(const torch::Tensor& raw, double scale) {
  return (raw.to(torch::kDouble) * scale).to(torch::kFloat);
}

TEST(ExportTest, MlpGivesTheNetsOutputsOnRawInputs) {
  for (const char* activation : {"relu", "tanh", "sigmoid", "gelu"}) {
    const std::string json = std::string(R"({"model":"mlp","hidden":[16,8],"dropout":0.5,)") +
                             R"("activation":")" + activation + R"("})";
    const InputSpec input{{12}, 3};
    Net net = Build(json, input);
    torch::jit::Module m = ExportAndReload(json, input, net, 0.5);
    torch::Tensor raw = torch::randn({5, 12});
    torch::NoGradGuard no_grad;
    torch::Tensor expected = net.forward(Scaled(raw, 0.5));
    EXPECT_TRUE(torch::allclose(Forward(m, raw), expected, 1e-5, 1e-6)) << activation;
  }
}

TEST(ExportTest, CnnTakesRawPixelsAsImagesOrFlatRows) {
  for (const char* pool : {"max", "avg", "none"}) {
    const std::string json = std::string(R"({"model":"cnn","conv_channels":[4,6],"dense":[10],)") +
                             R"("pool":")" + pool + R"("})";
    const InputSpec input{{1, 8, 8}, 4};
    Net net = Build(json, input);
    const double scale = 1.0 / 255;
    torch::jit::Module m = ExportAndReload(json, input, net, scale);
    torch::Tensor bytes = torch::randint(0, 256, {3, 1, 8, 8}).to(torch::kUInt8);
    torch::NoGradGuard no_grad;
    torch::Tensor expected = net.forward(Scaled(bytes, scale));
    EXPECT_TRUE(torch::allclose(Forward(m, bytes), expected, 1e-5, 1e-6)) << pool;
    torch::Tensor flat = bytes.reshape({3, 64}).to(torch::kFloat);
    EXPECT_TRUE(torch::allclose(Forward(m, flat), expected, 1e-5, 1e-6)) << pool;
    EXPECT_EQ(Forward(m, bytes).sizes(), (std::vector<int64_t>{3, 4}));
  }
}

TEST(ExportTest, CnnOnTwoDimensionalImages) {
  const std::string json = R"({"model":"cnn","conv_channels":[2],"dense":[],"kernel_size":5})";
  const InputSpec input{{6, 6}, 2};
  Net net = Build(json, input);
  torch::jit::Module m = ExportAndReload(json, input, net, 1.0);
  torch::Tensor x = torch::randn({4, 6, 6});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(Forward(m, x), net.forward(x), 1e-5, 1e-6));
}

TEST(ExportTest, TheExportedWeightsAreCopies) {
  const std::string json = R"({"model":"mlp","hidden":[4]})";
  const InputSpec input{{3}, 2};
  Net net = Build(json, input);
  torch::jit::Module m = ExportAndReload(json, input, net, 1.0);
  torch::Tensor x = torch::randn({2, 3});
  torch::Tensor before = Forward(m, x);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net.module->parameters()) p.zero_();
  }
  EXPECT_TRUE(torch::equal(Forward(m, x), before));
}

TEST(ExportTest, BatchNormAndUnknownLayers) {
  torch::nn::Sequential seq(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4),
                            torch::nn::ReLU());
  seq->train();
  for (int i = 0; i < 3; ++i) seq->forward(torch::randn({8, 3}));  // running statistics
  seq->eval();
  auto m = ScriptSequential(*seq, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  torch::Tensor x = torch::randn({5, 3});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(Forward(*m, x), seq->forward(x), 1e-5, 1e-6));

  torch::nn::Sequential odd(torch::nn::Linear(3, 4), torch::nn::LeakyReLU());
  auto refused = ScriptSequential(*odd, {});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("layer 1 (torch::nn::LeakyReLUImpl)"),
            std::string::npos)
      << refused.status().message();
}

TEST(ExportTest, AFamilyWithoutAnExporterIsNotFound) {
  ASSERT_TRUE(RegisterFamily(
                  "export_test_linear",
                  [](const Params&, const InputSpec& in) {
                    return StatusOr<Net>(MakeNet(torch::nn::Linear(in.feature_shape[0], 2)));
                  },
                  {})
                  .ok());
  auto config = ParseModelConfig(R"({"model":"export_test_linear"})");
  ASSERT_TRUE(config.ok());
  const InputSpec input{{3}, 2};
  auto net = BuildNet(*config, input);
  ASSERT_TRUE(net.ok());
  auto script = ExportTorchScript(*config, input, *net);
  EXPECT_EQ(script.status().code(), StatusCode::kNotFound);

  // The hook a family registers (what a scripted-model family does with its own module).
  Exporter exporter = [](const ModelConfig&, const InputSpec&, const Net& trained) {
    torch::jit::Module m("Linear");
    auto* linear = dynamic_cast<torch::nn::LinearImpl*>(trained.module.get());
    m.register_parameter("weight", linear->weight.detach().clone(), false);
    m.register_parameter("bias", linear->bias.detach().clone(), false);
    m.define("def forward(self, x: Tensor) -> Tensor:\n"
             "    return torch.linear(x, self.weight, self.bias)\n");
    return StatusOr<torch::jit::Module>(m);
  };
  ASSERT_TRUE(RegisterExporter("export_test_linear", exporter).ok());
  EXPECT_EQ(RegisterExporter("export_test_linear", exporter).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterExporter("mlp", exporter).code(), StatusCode::kAlreadyExists);
  script = ExportTorchScript(*config, input, *net);
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  torch::Tensor x = torch::randn({2, 3});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(Forward(*script, x), net->forward(x)));
}

}  // namespace
}  // namespace cerebro::model

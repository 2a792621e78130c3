// The torchscript family on TorchScript files written here without Python (a
// torch::jit::Module with parameters and a TorchScript forward, saved as Python's
// torch.jit.script(...).save(...) would).
#include "cerebro/model/torchscript_family.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cerebro/model/export.h"
#include "cerebro/model/torchscript_family_test_nets.h"

namespace cerebro::model {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/torchscript_family_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using testing::WriteMlp;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

ModelConfig Config(const std::string& json) {
  auto config = ParseModelConfig(json);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? *config : ModelConfig{};
}

std::string BuildError(const std::string& json, const InputSpec& input) {
  auto net = BuildNet(Config(json), input);
  if (net.ok()) return "OK";
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument) << net.status().ToString();
  return net.status().message();
}

std::string ParseError(const std::string& json) {
  auto config = ParseModelConfig(json);
  return config.ok() ? "OK" : config.status().message();
}

std::string ConfigFor(const std::string& model_file, const std::string& extra = "") {
  return R"({"model":"torchscript","model_file":")" + model_file + "\"" + extra + "}";
}

const InputSpec kFlat{{12}, 3};

TEST(TorchScriptFamilyTest, BuildsTheFileItsTemplateNames) {
  TempDir dir;
  WriteMlp(dir.Join("mlp_8.pt"), 12, 8, 3);
  WriteMlp(dir.Join("mlp_4.pt"), 12, 4, 3);
  // 8.0 is what a search space writes for an integer: the file is mlp_8.pt.
  auto net = BuildNet(Config(ConfigFor(dir.Join("mlp_{width}.pt"), R"(,"width":8.0)")), kFlat);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  std::vector<std::string> names;
  for (const auto& p : net->module->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"fc.weight", "fc.bias", "out.weight", "out.bias"}));
  EXPECT_EQ(net->module->named_parameters()["fc.weight"].sizes().vec(),
            (std::vector<int64_t>{8, 12}));
  EXPECT_EQ(net->module->named_buffers().size(), 1u);
  EXPECT_EQ(net->forward(torch::ones({5, 12})).sizes().vec(), (std::vector<int64_t>{5, 3}));
  ASSERT_NE(ScriptModuleOf(*net), nullptr);

  auto small = BuildNet(Config(ConfigFor(dir.Join("mlp_{width}.pt"), R"(,"width":4)")), kFlat);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->module->named_parameters()["fc.weight"].sizes().vec(),
            (std::vector<int64_t>{4, 12}));
}

TEST(TorchScriptFamilyTest, TemplateErrorsAreConfigErrors) {
  EXPECT_EQ(ParseError(R"({"model":"torchscript"})"),
            "params.model_file: required (the TorchScript file of the model)");
  EXPECT_EQ(ParseError(R"({"model":"torchscript","model_file":3})"),
            "params.model_file: expected a string");
  EXPECT_EQ(ParseError(ConfigFor("/n/mlp_{width}.pt")),
            "params.model_file: '/n/mlp_{width}.pt' uses {width}, but the configuration has no "
            "'width'");
  EXPECT_EQ(ParseError(ConfigFor("/n/mlp_{width.pt", R"(,"width":3)")),
            "params.model_file: '/n/mlp_{width.pt': a placeholder is {name}, name being a "
            "parameter (letters, digits, _)");
  EXPECT_EQ(ParseError(ConfigFor("/n/mlp_{w}.pt", R"(,"w":[1,2])")),
            "params.w: a model_file template value must be a string, number or boolean");
  EXPECT_EQ(ParseError(ConfigFor("/n/mlp.pt", R"(,"width":3)")),
            "params.width: unknown parameter for model 'torchscript' (it takes model_file and "
            "the {names} its template uses)");
  EXPECT_EQ(ParseError(ConfigFor("/n/{act}_{w}_{x}.pt", R"(,"act":"relu","w":2,"x":0.5)")), "OK");
  // Built-in families still refuse keys they do not know.
  EXPECT_NE(ParseError(R"({"model":"mlp","width":3})"), "OK");
  Params p = Config(ConfigFor("/n/{act}_{w}_{x}_{b}.pt",
                              R"(,"act":"relu","w":2,"x":0.5,"b":true)"))
                 .params;
  EXPECT_EQ(TorchScriptModelFile(p).value(), "/n/relu_2_0.5_true.pt");
}

TEST(TorchScriptFamilyTest, MissingFileAndNotTorchScriptFailTheModel) {
  TempDir dir;
  const std::string missing = dir.Join("none.pt");
  EXPECT_EQ(BuildError(ConfigFor(missing), kFlat), "params.model_file: " + missing + ": not found");
  EXPECT_EQ(BuildError(ConfigFor(dir.path()), kFlat),
            "params.model_file: " + dir.path() + ": is a directory");
  const std::string text = dir.Join("net.pt");
  WriteText(text, "this is not a zip archive\n");
  const std::string error = BuildError(ConfigFor(text), kFlat);
  EXPECT_EQ(error.rfind("params.model_file: " + text + " is not a TorchScript file (", 0), 0u)
      << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

// The error of building, on data `input`, an MLP file of `in` inputs and `classes`
// outputs, written as dir/mlp.pt.
std::string MlpError(const TempDir& dir, int64_t in, int64_t classes, const InputSpec& input) {
  WriteMlp(dir.Join("mlp.pt"), in, 8, classes);
  return BuildError(ConfigFor(dir.Join("mlp.pt")), input);
}

TEST(TorchScriptFamilyTest, InputShapeThatDoesNotFitFailsBeforeTraining) {
  TempDir dir;
  const std::string path = dir.Join("mlp.pt");
  const std::string error = MlpError(dir, 12, 3, InputSpec{{1, 28, 28}, 3});
  EXPECT_EQ(error.rfind("params.model_file: " + path +
                            ": forward fails on an input of shape [2, 1, 28, 28] (the data's): ",
                        0),
            0u)
      << error;
  EXPECT_NE(error.find("mat1 and mat2 shapes cannot be multiplied (2x784 and 12x8)"),
            std::string::npos)
      << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(TorchScriptFamilyTest, OutputSizeThatDoesNotFitFailsBeforeTraining) {
  TempDir dir;
  EXPECT_EQ(MlpError(dir, 12, 5, InputSpec{{12}, 10}),
            "params.model_file: " + dir.Join("mlp.pt") +
                ": forward maps an input of shape [2, 12] to [2, 5], the data needs [2, 10]");
}

TEST(TorchScriptFamilyTest, ForwardMustReturnOneTensor) {
  TempDir dir;
  const std::string path = dir.Join("pair.pt");
  torch::jit::Module m("Pair");
  m.define(R"(
    def forward(self, x):
        return x, x
  )");
  m.save(path);
  const std::string error = BuildError(ConfigFor(path), kFlat);
  EXPECT_NE(error.find("forward returned Tuple, expected a Tensor"), std::string::npos) << error;
}

// A batch norm without running statistics normalises by the batch even in eval mode and
// refuses a batch of one: the dry forward must not reject it.
TEST(TorchScriptFamilyTest, ABatchNormWithoutRunningStatisticsPassesTheDryForward) {
  TempDir dir;
  const std::string path = dir.Join("bn.pt");
  torch::jit::Module m = testing::ScriptModule("Bn");
  m.define(R"(
    def forward(self, x):
        return torch.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False)
  )");
  m.save(path);
  auto net = BuildNet(Config(ConfigFor(path)), InputSpec{{3}, 3});
  EXPECT_TRUE(net.ok()) << net.status().ToString();
}

// A 12 -> 8 -> 3 MLP file and its config, for the tests of what a built net does.
class TorchScriptNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteMlp(dir_.Join("mlp.pt"), 12, 8, 3);
    config_ = Config(ConfigFor(dir_.Join("mlp.pt")));
  }
  StatusOr<Net> Build() const { return BuildNet(config_, kFlat); }
  TempDir dir_;
  ModelConfig config_;
};

// The optimizer updates the tensors the script module runs with: training changes what
// the script computes, and the dry forward left the buffer alone.
TEST_F(TorchScriptNetTest, TrainingChangesTheScriptModulesWeights) {
  auto net = Build();
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  const torch::jit::Module& script = *ScriptModuleOf(*net);
  EXPECT_EQ(script.attr("calls").toTensor().item<float>(), 0.0f);  // dry run in eval mode
  const torch::Tensor before = script.attr("fc").toModule().attr("weight").toTensor().clone();

  net->module->train();
  EXPECT_TRUE(script.is_training());
  torch::optim::SGD sgd(net->module->parameters(), torch::optim::SGDOptions(0.5));
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({16, 12});
  const torch::Tensor y = torch::randint(0, 3, {16});
  sgd.zero_grad();
  torch::cross_entropy_loss(net->forward(x), y).backward();
  sgd.step();
  EXPECT_EQ(script.attr("calls").toTensor().item<float>(), 1.0f);
  const torch::Tensor after = script.attr("fc").toModule().attr("weight").toTensor();
  EXPECT_FALSE(torch::equal(before, after));
  EXPECT_TRUE(torch::equal(after, net->module->named_parameters()["fc.weight"]));

  net->module->eval();
  EXPECT_FALSE(script.is_training());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(net->forward(x), net->forward(x)));  // no dropout in eval
}

// What the state codec does (Module::save / Module::load) restores the script module
// bitwise in a net freshly built from the same file.
TEST_F(TorchScriptNetTest, SavedStateLoadsBitwiseIntoAFreshNet) {
  auto trained = Build();
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  trained->module->train();
  torch::optim::Adam adam(trained->module->parameters(), torch::optim::AdamOptions(0.01));
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    trained->forward(torch::randn({4, 12})).pow(2).sum().backward();
    adam.step();
  }
  std::stringstream bytes;
  {
    torch::serialize::OutputArchive archive;
    trained->module->save(archive);
    archive.save_to(bytes);
  }
  auto fresh = Build();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  torch::serialize::InputArchive archive;
  archive.load_from(bytes);
  fresh->module->load(archive);

  const torch::jit::Module& a = *ScriptModuleOf(*trained);
  const torch::jit::Module& b = *ScriptModuleOf(*fresh);
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (auto ia = pa.begin(), ib = pb.begin(); ia != pa.end(); ++ia, ++ib) {
    EXPECT_EQ((*ia).name, (*ib).name);
    EXPECT_TRUE(torch::equal((*ia).value, (*ib).value)) << (*ia).name;
  }
  EXPECT_TRUE(torch::equal(a.attr("calls").toTensor(), b.attr("calls").toTensor()));
  EXPECT_EQ(b.attr("calls").toTensor().item<float>(), 3.0f);
  trained->module->eval();
  fresh->module->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({6, 12});
  EXPECT_TRUE(torch::equal(trained->forward(x), fresh->forward(x)));
}

// `cerebro export` of a torchscript model: the user's module with the trained weights,
// copied (the export does not change when the net trains on), in eval mode.
TEST_F(TorchScriptNetTest, ExportIsTheScriptModuleWithItsTrainedWeights) {
  auto net = Build();
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->module->parameters()) p.add_(0.25);  // "trained"
  }
  net->module->train();
  auto exported = ExportTorchScript(config_, kFlat, *net);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  std::stringstream bytes;
  exported->save(bytes);
  torch::jit::Module reloaded = torch::jit::load(bytes);
  net->module->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({4, 12});
  const torch::Tensor expected = net->forward(x);
  EXPECT_TRUE(torch::equal(reloaded.forward({x}).toTensor(), expected));
  for (auto& p : net->module->parameters()) p.add_(1.0);
  EXPECT_TRUE(torch::equal(exported->forward({x}).toTensor(), expected));
}

}  // namespace
}  // namespace cerebro::model

#include "cerebro/spec/spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace cerebro::spec {
namespace {

const char* kGood = R"(
name: demo
data:
  format: idx
  train: {images: /d/train-images.gz, labels: /d/train-labels.gz}
  validation: {images: /d/t10k-images.gz, labels: /d/t10k-labels.gz}
  feature_scale: 0.00392156862745098
params:
  model: mlp
  hidden: [1000, 500]
  lr: {choice: [1.0e-3, 1.0e-4]}
  weight_decay: {choice: [1e-4, 1e-5]}
  batch_size: 128
run:
  epochs: 5
  workers: 2
  seed: 7
)";

TEST(SpecTest, ParsesAGridSpecWithDefaults) {
  auto s = ParseSpecString(kGood, "spec.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "demo");
  EXPECT_EQ(s->data.train_path, "/d/train-images.gz");
  EXPECT_EQ(s->data.val_labels_path, "/d/t10k-labels.gz");
  ASSERT_EQ(s->params.size(), 5u);
  EXPECT_FALSE(s->params[1].searched);
  EXPECT_EQ(s->params[1].value, Json::parse("[1000,500]"));
  EXPECT_TRUE(s->params[2].searched);
  EXPECT_EQ(s->params[2].dist.choices.size(), 2u);
  EXPECT_DOUBLE_EQ(s->params[2].dist.choices[0].get<double>(), 1e-3);
  EXPECT_EQ(s->run.epochs, 5);
  EXPECT_EQ(s->run.seed, 7u);
  EXPECT_EQ(s->run.strategy, Strategy::kMop);
  EXPECT_EQ(s->run.order, Order::kRandom);
  EXPECT_EQ(s->run.checkpoint, CheckpointPolicy::kUnit);
  EXPECT_EQ(s->run.backend, BackendKind::kLocal);
  EXPECT_EQ(s->task, Task::kClassification);
  EXPECT_EQ(s->search.method, SearchMethod::kGrid);
  EXPECT_EQ(s->metric.name, "accuracy");
  EXPECT_EQ(s->metric.direction, Direction::kMaximize);
}

TEST(SpecTest, ToJsonRoundTrips) {
  auto s = ParseSpecString(kGood, "spec.yaml");
  ASSERT_TRUE(s.ok());
  Json j = ToJson(*s);
  auto again = ParseSpecString(j.dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ToJson(*again), j);
}

// Each bad spec must fail with a message naming the field.
struct BadCase {
  std::string patch_from, patch_to, expect_in_message;
};

class BadSpecTest : public ::testing::TestWithParam<BadCase> {};

// Patches `text` as `c` says; parsing it must fail with one line naming the field.
void ExpectRefused(std::string text, const BadCase& c) {
  auto pos = text.find(c.patch_from);
  ASSERT_NE(pos, std::string::npos) << c.patch_from;
  text.replace(pos, c.patch_from.size(), c.patch_to);
  auto s = ParseSpecString(text, "spec.yaml");
  ASSERT_FALSE(s.ok()) << "accepted: " << text;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("spec.yaml: "), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find(c.expect_in_message), std::string::npos)
      << s.status().message();
  EXPECT_EQ(s.status().message().find('\n'), std::string::npos);
}

TEST_P(BadSpecTest, FailsWithOneLineNamingTheField) { ExpectRefused(kGood, GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSpecTest,
    ::testing::Values(
        BadCase{"  workers: 2", "  wokers: 2", "run.wokers: unknown key"},
        BadCase{"  workers: 2", "  workers: two", "run.workers: expected a positive integer, got 'two'"},
        BadCase{"  workers: 2", "  workers: 4294967298", "run.workers: too large: 4294967298"},
        BadCase{"  workers: 2", "  workers: 9223372036854775808", "run.workers: too large"},
        BadCase{"  seed: 7", "  seed: -1", "run.seed: expected an integer in [0, 2^64 - 1], got -1"},
        BadCase{"  seed: 7", "  seed: 18446744073709551616", "run.seed: expected an integer in"},
        BadCase{"  workers: 2", "  workers: 0", "run.workers: must be >= 1"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{choice: []}", "params.lr.choice: empty choice"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{uniform: [0.1, 0.01]}", "params.lr.uniform: low must be < high"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{uniform: [0.1, 0.1]}", "low must be < high"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{uniform: [0.001, 0.1]}", "grid search needs 'choice'"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{quniform: [1, 5, 0]}", "q must be > 0"},
        BadCase{"{choice: [1.0e-3, 1.0e-4]}", "{normal: [0, 1]}", "params.lr: a distribution is"},
        BadCase{"name: demo", "name: [demo]", "name: expected a string"},
        BadCase{"format: idx", "format: parquet", "data.format: expected one of"},
        BadCase{"  epochs: 5", "  epochs: 5\n  strategy: magic",
                "run.strategy: expected one of mop, sequential, task or dp, got 'magic'"},
        BadCase{"  epochs: 5", "  epochs: 5\n  order: 3", "run.order: expected one of random or fixed, got 3"},
        BadCase{"  epochs: 5", "  epochs: 5\n  checkpoint: never",
                "run.checkpoint: expected one of unit or epoch, got 'never'"},
        BadCase{"name: demo", "nmae: demo", "nmae: unknown key"},
        BadCase{"  model: mlp\n", "", "params.model: missing"},
        BadCase{"labels: /d/train-labels.gz", "lables: /d/train-labels.gz", "data.train.lables: unknown key"},
        BadCase{"validation: {images: /d/t10k-images.gz, labels: /d/t10k-labels.gz}",
                "validation: {fraction: 1.5}", "data.validation.fraction: must be in (0, 1)"},
        BadCase{"  seed: 7", "  seed: 7\n  seed: 8", "duplicate"},
        BadCase{"  epochs: 5", "  epochs: [5", "line"}));

const char* kConditional = R"(
data:
  format: csv
  train: /d/x.csv
  validation: {fraction: 0.2}
params:
  model: {choice: [mlp, cnn, resnet]}
  conv_channels: {when: {model: cnn}, choice: [[16, 32], [32, 64]]}
  kernel_size: {when: {model: [cnn, resnet]}, value: 3}
  optimizer: {choice: [sgd, adam]}
  momentum: {when: {optimizer: sgd, model: mlp}, uniform: [0.5, 0.99]}
search: {method: random, num_models: 4}
)";

TEST(SpecConditionTest, ParsesEachFormAndRoundTrips) {
  auto s = ParseSpecString(kConditional, "spec.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->params.size(), 5u);
  EXPECT_TRUE(s->params[0].when.empty());
  const Param& channels = s->params[1];
  ASSERT_EQ(channels.when.size(), 1u);
  EXPECT_EQ(channels.when[0].param, "model");
  EXPECT_EQ(Json(channels.when[0].values), Json::parse(R"(["cnn"])"));
  EXPECT_TRUE(channels.searched);
  EXPECT_EQ(channels.dist.choices[1], Json::parse("[32, 64]"));
  const Param& kernel = s->params[2];
  EXPECT_FALSE(kernel.searched);
  EXPECT_EQ(kernel.value, 3);
  EXPECT_EQ(Json(kernel.when[0].values), Json::parse(R"(["cnn", "resnet"])"));
  const Param& momentum = s->params[4];
  ASSERT_EQ(momentum.when.size(), 2u);  // all must hold
  EXPECT_EQ(momentum.dist.kind, Distribution::Kind::kUniform);

  Json j = ToJson(*s);
  EXPECT_EQ(j["params"]["kernel_size"].dump(), R"({"when":{"model":["cnn","resnet"]},"value":3})");
  auto again = ParseSpecString(j.dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ToJson(*again), j);
}

TEST(SpecConditionTest, AppliesWhenEveryConditionHolds) {
  auto s = ParseSpecString(kConditional, "spec.yaml");
  ASSERT_TRUE(s.ok());
  const Param& momentum = s->params[4];
  EXPECT_TRUE(Applies(momentum, Json::parse(R"({"model":"mlp","optimizer":"sgd"})")));
  EXPECT_FALSE(Applies(momentum, Json::parse(R"({"model":"cnn","optimizer":"sgd"})")));
  EXPECT_FALSE(Applies(momentum, Json::parse(R"({"model":"mlp"})")));  // the parent is absent
  EXPECT_TRUE(Applies(s->params[0], Json::object()));
}

class BadConditionTest : public ::testing::TestWithParam<BadCase> {};

// The file and the field lead the message: "spec.yaml: params.<name>.when...".
TEST_P(BadConditionTest, FailsWithOneLineNamingTheField) {
  BadCase c = GetParam();
  c.expect_in_message = "spec.yaml: " + c.expect_in_message;
  ExpectRefused(kConditional, c);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConditionTest,
    ::testing::Values(
        BadCase{"{model: cnn}", "{modle: cnn}",
                "params.conv_channels.when.modle: no such parameter"},
        BadCase{"{optimizer: sgd, model: mlp}", "{optimizer: sgd, model: mlp, lr: 1}",
                "params.momentum.when.lr: no such parameter"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}", "{when: {momentum: 0.9}, value: 3}",
                "params.kernel_size.when.momentum: must be defined before kernel_size"},
        BadCase{"{model: cnn}", "{conv_channels: [[16, 32]]}",
                "params.conv_channels.when.conv_channels: must be defined before"},
        BadCase{"{model: cnn}", "{model: rnn}",
                "params.conv_channels.when.model: 'rnn' is not a possible value of model"},
        BadCase{"{model: [cnn, resnet]}", "{model: [cnn, vgg]}",
                "params.kernel_size.when.model: 'vgg' is not a possible value"},
        BadCase{"momentum: {when: {optimizer: sgd, model: mlp}, uniform: [0.5, 0.99]}",
                "momentum: {uniform: [0.5, 0.99]}\n  wd: {when: {momentum: 0.9}, value: 0}",
                "params.wd.when.momentum: a condition needs a choice or a fixed value"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}", "{when: cnn, value: 3}",
                "params.kernel_size.when: expected a mapping"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}", "{when: {model: []}, value: 3}",
                "params.kernel_size.when.model: no allowed values"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}", "{when: {model: cnn}}",
                "params.kernel_size: a conditional parameter is"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}",
                "{when: {model: cnn}, value: 3, choice: [3, 5]}",
                "params.kernel_size: a conditional"},
        BadCase{"{when: {model: [cnn, resnet]}, value: 3}", "{when: {model: cnn}, choice: []}",
                "params.kernel_size.choice: empty choice"},
        BadCase{"model: {choice: [mlp, cnn, resnet]}",
                "optimizer0: {choice: [a, b]}\n  model: {when: {optimizer0: a}, value: mlp}",
                "params.model.when: the model is never conditional"}));

TEST(SpecTest, RandomSearchNeedsNumModels) {
  std::string text = kGood;
  text += "search: {method: random}\n";
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("search.num_models"), std::string::npos);
}

TEST(SpecTest, QuotedScalarsStayStrings) {
  std::string text = kGood;
  text.replace(text.find("name: demo"), 10, "name: '123'");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "123");
}

// Regression tests for inputs found by fuzz/spec_fuzz (see fuzz/README.md).

// Replaces "  batch_size: 128" in kGood with `line` (under params).
std::string WithParamLine(const std::string& line) {
  std::string text = kGood;
  const std::string from = "  batch_size: 128";
  text.replace(text.find(from), from.size(), line);
  return text;
}

TEST(SpecFuzzRegressionTest, NonFiniteNumbersAreRejectedNamingTheField) {
  // `lr: nan` used to parse to a NaN that the resolved spec stored as null, so the
  // spec the store wrote no longer parsed ("params.x: missing value").
  for (const char* v :
       {"nan", "NaN", "inf", "-infinity", "1e999", "-1e999", ".inf", "-.inf", ".NaN"}) {
    auto s = ParseSpecString(WithParamLine(std::string("  x: ") + v), "s.yaml");
    ASSERT_FALSE(s.ok()) << v;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("s.yaml: params.x: '"), std::string::npos)
        << s.status().message();
    EXPECT_NE(s.status().message().find("not a finite number"), std::string::npos);
  }
  auto s = ParseSpecString(WithParamLine("  x: {choice: [1, .inf]}"), "s.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("params.x.choice[1]"), std::string::npos)
      << s.status().message();
  // Quoted, they are strings, and tiny numbers that underflow are fine.
  s = ParseSpecString(WithParamLine("  x: 'nan'\n  y: 1e-400"), "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->params[4].value, Json("nan"));
}

TEST(SpecFuzzRegressionTest, InvalidUtf8IsAnErrorNotAnException) {
  // Invalid UTF-8 in a value or key made Describe() / ToJson().dump() throw
  // nlohmann::json::type_error (316) out of the parser.
  for (const std::string& bad : {std::string("\xff"), std::string("a\xc3"),
                                std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    auto s = ParseSpecString(WithParamLine("  x: " + bad), "s.yaml");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("params.x: value is not valid UTF-8"), std::string::npos)
        << s.status().message();
    s = ParseSpecString(WithParamLine("  " + bad + "k: 1"), "s.yaml");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("params: a key is not valid UTF-8"), std::string::npos)
        << s.status().message();
  }
  // Valid multi-byte UTF-8 round-trips.
  auto s = ParseSpecString(WithParamLine("  x: \"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\""),
                           "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto again = ParseSpecString(ToJson(*s).dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ToJson(*again), ToJson(*s));
}

TEST(SpecFuzzRegressionTest, CyclicAliasesAndDeepNestingAreErrors) {
  // An alias inside its own anchor used to recurse until the stack overflowed.
  for (const char* line : {"  x: &a [1, *a]", "  x: &m {k: *m}"}) {
    auto s = ParseSpecString(WithParamLine(line), "s.yaml");
    ASSERT_FALSE(s.ok()) << line;
    EXPECT_NE(s.status().message().find("nested more than 64 levels"), std::string::npos)
        << s.status().message();
  }
  std::string deep = "  x: " + std::string(65, '[') + std::string(65, ']');
  auto s = ParseSpecString(WithParamLine(deep), "s.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("nested more than 64 levels"), std::string::npos);
  std::string ok = "  x: " + std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(ParseSpecString(WithParamLine(ok), "s.yaml").ok());
}

TEST(SpecFuzzRegressionTest, AliasExpansionIsBounded) {
  // "Billion laughs": 9 levels of 10 aliases each expanded to 10^9 values (a hang).
  std::string lines = "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    lines += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) lines += (k ? ", *a" : "*a") + std::to_string(i - 1);
    lines += "]\n";
  }
  auto s = ParseSpecString(WithParamLine(lines), "s.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("more than 100000 values once aliases are expanded"),
            std::string::npos)
      << s.status().message();
  // A few aliases are fine.
  s = ParseSpecString(WithParamLine("  a: &l [1, 2]\n  b: [*l, *l]"), "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->params[5].value, Json::parse("[[1,2],[1,2]]"));
}

TEST(SpecTest, EnumsAreSpelledAsBeforeInTheResolvedSpec) {
  std::string text = kGood;
  text += "search: {method: grid}\n";
  text.replace(text.find("  seed: 7"), 9,
               "  seed: 7\n  strategy: task\n  order: fixed\n  backend: ray\n  ray_address: h:1\n"
               "  checkpoint: epoch");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.strategy, Strategy::kTask);
  EXPECT_EQ(s->run.order, Order::kFixed);
  EXPECT_EQ(s->run.backend, BackendKind::kRay);
  Json j = ToJson(*s);
  EXPECT_EQ(j["task"], "classification");
  EXPECT_EQ(j["search"]["method"], "grid");
  EXPECT_EQ(j["metric"]["direction"], "max");
  EXPECT_EQ(j["run"]["strategy"], "task");
  EXPECT_EQ(j["run"]["order"], "fixed");
  EXPECT_EQ(j["run"]["backend"], "ray");
  EXPECT_EQ(j["run"]["checkpoint"], "epoch");
  EXPECT_EQ(ParseSpecString(j.dump(), "resolved")->run.checkpoint, CheckpointPolicy::kEpoch);
  EXPECT_EQ(ToJson(*ParseSpecString(kGood, "s.yaml"))["run"].count("checkpoint"), 0u);
  EXPECT_EQ(j["params"]["lr"].begin().key(), "choice");
  for (auto [strategy, name] :
       {std::pair{Strategy::kMop, "mop"}, {Strategy::kSequential, "sequential"},
        {Strategy::kTask, "task"}, {Strategy::kDataParallel, "dp"}}) {
    EXPECT_EQ(EnumName(strategy), name);
    EXPECT_EQ(ParseEnum<Strategy>(name), strategy);
  }
}

TEST(SpecTest, RegressionDefaultsToLossMinimised) {
  std::string text = kGood;
  text.replace(text.find("name: demo"), 10, "name: demo\ntask: regression");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->task, Task::kRegression);
  EXPECT_EQ(s->metric.name, "loss");
  EXPECT_EQ(s->metric.direction, Direction::kMinimize);
}

TEST(SpecTest, SequentialRunsOnOneWorkerWhateverTheFileSays) {
  std::string text = kGood;
  text.replace(text.find("  workers: 2"), 12, "  workers: 2\n  strategy: sequential");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.strategy, Strategy::kSequential);
  EXPECT_EQ(s->run.workers, 1);
  // ...and the resolved spec says so, so a resumed run agrees.
  EXPECT_EQ(ToJson(*s)["run"]["workers"], 1);
  // A flag that makes the run sequential does the same.
  s = ParseSpecString(kGood, "s.yaml", {{"run.strategy", "sequential", "--strategy"}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.workers, 1);
}

TEST(SpecTest, SeedsTakeTheWholeUint64RangeAndRoundTrip) {
  std::string text = kGood;
  text.replace(text.find("  seed: 7"), 9, "  seed: 18446744073709551615");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.seed, UINT64_MAX);
  auto again = ParseSpecString(ToJson(*s).dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->run.seed, UINT64_MAX);
  s = ParseSpecString(kGood, "s.yaml", {{"run.seed", uint64_t{9223372036854775808u}, "--seed"}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.seed, 9223372036854775808u);
}

TEST(SpecOverrideTest, OverridesReplaceTheFilesValues) {
  Overrides o = {{"run.workers", 3, "--workers"},
                 {"run.epochs", 9, "--epochs"},
                 {"run.order", "fixed", "--order"}};
  auto s = ParseSpecString(kGood, "s.yaml", o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.workers, 3);
  EXPECT_EQ(s->run.epochs, 9);
  EXPECT_EQ(s->run.order, Order::kFixed);
  EXPECT_EQ(s->run.seed, 7u);  // not overridden: the file's
}

TEST(SpecOverrideTest, CreateTheRunSectionWhenTheFileHasNone) {
  std::string text = kGood;
  text.erase(text.find("run:"));
  auto s = ParseSpecString(text, "s.yaml", {{"run.seed", 11, "--seed"}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.seed, 11u);
  EXPECT_EQ(s->run.workers, 2);  // the default
}

// A bad flag is refused by the field's own rule, and the message names the flag.
struct BadOverrideCase {
  Override override;
  std::string message;  // the whole message
};

class BadOverrideTest : public ::testing::TestWithParam<BadOverrideCase> {};

TEST_P(BadOverrideTest, IsRefusedByTheSpecsRuleNamingTheFlag) {
  const BadOverrideCase& c = GetParam();
  auto s = ParseSpecString(kGood, "spec.yaml", {c.override});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadOverrideTest,
    ::testing::Values(
        BadOverrideCase{{"run.workers", "x", "--workers"},
                        "--workers: expected a positive integer, got 'x'"},
        BadOverrideCase{{"run.workers", 0, "--workers"}, "--workers: must be >= 1, got 0"},
        BadOverrideCase{{"run.workers", int64_t{4294967298}, "--workers"},
                        "--workers: too large: 4294967298"},
        BadOverrideCase{{"run.epochs", int64_t{4294967297}, "--epochs"},
                        "--epochs: too large: 4294967297"},
        BadOverrideCase{{"run.workers", 2000, "--workers"}, "--workers: at most 1024"},
        BadOverrideCase{{"run.seed", "18446744073709551616", "--seed"},
                        "--seed: expected an integer in [0, 2^64 - 1], got "
                        "'18446744073709551616'"},
        BadOverrideCase{{"run.strategy", "magic", "--strategy"},
                        "--strategy: expected one of mop, sequential, task or dp, got 'magic'"},
        BadOverrideCase{{"run.ray_address", "h:1", "--ray-address"},
                        "--ray-address: only used with backend: ray"}));

TEST(SpecOverrideTest, ErrorsOfTheFileStillNameTheFile) {
  std::string text = kGood;
  text.replace(text.find("  workers: 2"), 12, "  workers: two");
  auto s = ParseSpecString(text, "spec.yaml", {{"run.epochs", 3, "--epochs"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "spec.yaml: run.workers: expected a positive integer, got 'two'");
  // The flag fixes the file's value: the flag's value is the one read.
  s = ParseSpecString(text, "spec.yaml", {{"run.workers", 3, "--workers"}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->run.workers, 3);
}

TEST(SpecTest, MissingFileIsNotFound) {
  auto s = ParseSpecFile("/nonexistent/spec.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/spec.yaml"), std::string::npos);
}

// ---- A metric must fit the task (issue 10, item 6) ----

TEST(SpecTest, AMetricThatDoesNotFitTheTaskIsRefusedNamingTheField) {
  std::string text = kGood;
  text.replace(text.find("name: demo"), 10, "name: demo\ntask: regression\nmetric: accuracy");
  auto s = ParseSpecString(text, "s.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "s.yaml: metric.name: accuracy does not fit task regression (use loss, train_loss, "
            "num_parameters, seconds_per_example)");
  // The mapping form, and a spec built in code, are held to the same rule.
  text = kGood;
  text.replace(text.find("name: demo"), 10,
               "name: demo\ntask: regression\nmetric: {name: accuracy}");
  EXPECT_FALSE(ParseSpecString(text, "s.yaml").ok());
  auto good = ParseSpecString(kGood, "s.yaml");
  ASSERT_TRUE(good.ok());
  ExperimentSpec edited = *good;
  edited.task = Task::kRegression;
  EXPECT_EQ(Validate(edited).code(), StatusCode::kInvalidArgument);
  // Loss fits both.
  text = kGood;
  text.replace(text.find("name: demo"), 10, "name: demo\nmetric: loss");
  EXPECT_TRUE(ParseSpecString(text, "s.yaml").ok());
}

// ---- Two or more objectives (issue 11, item 5) ----

std::string WithMetric(const std::string& metric) {
  std::string text = kGood;
  text.replace(text.find("name: demo"), 10, "name: demo\nmetric: " + metric);
  return text;
}

TEST(SpecObjectivesTest, AListOfTwoIsParsedInOrderWithTheFirstAsMetric) {
  auto s = ParseSpecString(
      WithMetric("[{name: accuracy}, {name: num_parameters, direction: minimize}]"), "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->objectives.size(), 2u);
  EXPECT_EQ(s->objectives[0].name, "accuracy");
  EXPECT_EQ(s->objectives[0].direction, Direction::kMaximize);
  EXPECT_EQ(s->objectives[1].name, "num_parameters");
  EXPECT_EQ(s->objectives[1].direction, Direction::kMinimize);
  EXPECT_EQ(s->metric.name, "accuracy");
  EXPECT_EQ(Objectives(*s).size(), 2u);
  // The resolved spec keeps the list, and reads back the same.
  const Json j = ToJson(*s);
  EXPECT_EQ(j["metric"].dump(),
            R"([{"name":"accuracy","direction":"max"},{"name":"num_parameters","direction":"min"}])");
  auto again = ParseSpecString(j.dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ToJson(*again), j);
}

TEST(SpecObjectivesTest, OneObjectiveKeepsTheSingleMetricFormWhateverItWasWrittenAs) {
  const std::string single = ToJson(*ParseSpecString(kGood, "s.yaml"))["metric"].dump();
  EXPECT_EQ(single, R"({"name":"accuracy","direction":"max"})");
  for (const char* m : {"accuracy", "{name: accuracy, direction: max}", "[accuracy]",
                        "[{name: accuracy, direction: maximize}]"}) {
    auto s = ParseSpecString(WithMetric(m), "s.yaml");
    ASSERT_TRUE(s.ok()) << m << ": " << s.status().ToString();
    EXPECT_TRUE(s->objectives.empty()) << m;
    EXPECT_EQ(Objectives(*s).size(), 1u);
    EXPECT_EQ(ToJson(*s)["metric"].dump(), single) << m;
  }
  // Names as plain strings, three objectives.
  auto three = ParseSpecString(WithMetric("[loss, num_parameters, seconds_per_example]"), "s.yaml");
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  EXPECT_EQ(three->objectives.size(), 3u);
  EXPECT_EQ(three->metric.name, "loss");
}

struct BadMetric {
  std::string metric, message;
};
class BadObjectivesTest : public ::testing::TestWithParam<BadMetric> {};

TEST_P(BadObjectivesTest, IsOneLineNamingTheEntry) {
  auto s = ParseSpecString(WithMetric(GetParam().metric), "s.yaml");
  ASSERT_FALSE(s.ok()) << GetParam().metric;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "s.yaml: " + GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadObjectivesTest,
    ::testing::Values(
        BadMetric{"[{name: accuracy}, {name: flops}]",
                  "metric[1].name: expected one of accuracy, loss, train_accuracy, train_loss, "
                  "num_parameters, seconds_per_example, got 'flops'"},
        BadMetric{"[accuracy, {name: accuracy}]", "metric[1].name: accuracy is listed twice"},
        BadMetric{"[accuracy, {name: num_parameters, direction: max}]",
                  "metric[1].direction: num_parameters must be 'min'"},
        BadMetric{"[accuracy, {name: loss, direction: down}]",
                  "metric[1].direction: expected one of max, min, maximize or minimize, got 'down'"},
        BadMetric{"[accuracy, {direction: min}]", "metric[1].name: missing"},
        BadMetric{"[accuracy, {name: loss, weight: 2}]", "metric[1].weight: unknown key (expected one of: direction, name)"},
        BadMetric{"[accuracy, 3]", "metric[1]: expected a mapping, got 3"},
        BadMetric{"[]", "metric: expected at least one objective, got []"}));

TEST(SpecObjectivesTest, PbtTakesOneObjectiveAndEachObjectiveMustFitTheTask) {
  std::string text = WithMetric("[accuracy, num_parameters]");
  text += "search: {method: pbt}\n";
  auto pbt = ParseSpecString(text, "s.yaml");
  ASSERT_FALSE(pbt.ok());
  EXPECT_NE(pbt.status().message().find("metric: pbt exploits by one metric"), std::string::npos)
      << pbt.status().message();
  std::string regression = kGood;
  regression.replace(regression.find("name: demo"), 10,
                     "name: demo\ntask: regression\nmetric: [loss, train_accuracy]");
  auto r = ParseSpecString(regression, "s.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("metric[1].name: train_accuracy does not fit task regression"),
            std::string::npos)
      << r.status().message();
}

// ---- Spec files and the data files they name (item 10) ----

// A fresh directory under /tmp, removed (with its files) at scope exit.
class SpecDir {
 public:
  SpecDir() {
    char tmpl[] = "/tmp/cerebro_spec_test.XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~SpecDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// kGood with its data files replaced by `images`/`labels` for train and validation.
std::string WithDataFiles(const std::string& images, const std::string& labels) {
  std::string text = kGood;
  text.replace(text.find("{images: /d/train-images.gz, labels: /d/train-labels.gz}"), 56,
               "{images: " + images + ", labels: " + labels + "}");
  text.replace(text.find("{images: /d/t10k-images.gz, labels: /d/t10k-labels.gz}"), 54,
               "{fraction: 0.2}");
  return text;
}

TEST(SpecFileTest, RelativeDataPathsAreResolvedAgainstTheSpecsDirectory) {
  SpecDir dir;
  dir.Write("exp/data/images.gz", "x");
  dir.Write("exp/data/labels.gz", "x");
  const std::string spec =
      dir.Write("exp/spec.yaml", WithDataFiles("data/images.gz", "./data/labels.gz"));
  // Wherever cerebro is started: the working directory here is not the spec's.
  ASSERT_NE(std::filesystem::current_path().string(), dir.path() + "/exp");
  auto s = ParseSpecFile(spec);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->data.train_path, dir.path() + "/exp/data/images.gz");
  EXPECT_EQ(s->data.train_labels_path, dir.path() + "/exp/data/labels.gz");
  // The resolved spec (what a run directory stores) names the same files from anywhere.
  auto again = ParseSpecString(ToJson(*s).dump(), "resolved");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data.train_path, s->data.train_path);
  // A spec path relative to the working directory resolves too.
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  auto relative = ParseSpecFile("exp/spec.yaml");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(relative.ok()) << relative.status().ToString();
  EXPECT_EQ(relative->data.train_path, dir.path() + "/exp/data/images.gz");
}

TEST(SpecFileTest, AMissingDataFileIsOneLineNamingTheFieldAndWhereRelativePathsPoint) {
  SpecDir dir;
  dir.Write("exp/images.gz", "x");
  auto s = ParseSpecFile(dir.Write("exp/spec.yaml", WithDataFiles("images.gz", "foo.gz")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), dir.path() + "/exp/spec.yaml: data.train.labels: foo.gz: not " +
                                      "found (relative paths are resolved against the spec's " +
                                      "directory " + dir.path() + "/exp)");
  // An absolute path needs no hint.
  s = ParseSpecFile(dir.Write("exp/abs.yaml", WithDataFiles("/nonexistent/i.gz", "images.gz")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            dir.path() + "/exp/abs.yaml: data.train.images: /nonexistent/i.gz: not found");
  // A CSV's shorthand names its field as written.
  std::string csv = WithDataFiles("images.gz", "images.gz");
  csv.replace(csv.find("format: idx"), 11, "format: csv");
  csv.replace(csv.find("{images: images.gz, labels: images.gz}"), 38, "table.csv");
  s = ParseSpecFile(dir.Write("exp/csv.yaml", csv));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind(
                dir.path() + "/exp/csv.yaml: data.train: table.csv: not found (", 0),
            0u)
      << s.status().message();
}

TEST(SpecFileTest, ASymlinkLoopOrADirectoryIsBadInputNamingIt) {
  SpecDir dir;
  ASSERT_EQ(::symlink((dir.path() + "/b").c_str(), (dir.path() + "/a").c_str()), 0);
  ASSERT_EQ(::symlink((dir.path() + "/a").c_str(), (dir.path() + "/b").c_str()), 0);
  dir.Write("labels.gz", "x");
  std::filesystem::create_directories(dir.path() + "/images");
  auto s = ParseSpecFile(dir.Write("loop.yaml", WithDataFiles(dir.path() + "/a", "labels.gz")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            dir.path() + "/loop.yaml: data.train.images: " + dir.path() + "/a: a symlink loop");
  s = ParseSpecFile(dir.Write("dir.yaml", WithDataFiles("images", "labels.gz")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("data.train.images: images: is a directory, expected a file"),
            std::string::npos)
      << s.status().message();
  // The spec path itself.
  s = ParseSpecFile(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), dir.path() + ": is a directory, expected a spec file");
  s = ParseSpecFile(dir.path() + "/a");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), dir.path() + "/a: a symlink loop");
}

TEST(SpecFileTest, ParsingAStringTouchesNoFiles) {
  // Resumes parse the run's spec.json as a string: its paths were resolved when the run
  // started, and a missing source file must not stop a resume (the data is in the run).
  auto s = ParseSpecString(WithDataFiles("rel/images.gz", "rel/labels.gz"), "spec.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->data.train_path, "rel/images.gz");
}

}  // namespace
}  // namespace cerebro::spec

namespace cerebro::spec {
namespace {

// kGood's data section replaced by `data`.
std::string WithDataSection(const std::string& data) {
  std::string text = kGood;
  const size_t begin = text.find("data:");
  const size_t end = text.find("params:");
  return text.replace(begin, end - begin, data);
}

TEST(SpecStoreTest, APreparedStoreIsResolvedCheckedAndRoundTrips) {
  SpecDir dir;
  dir.Write("exp/store/meta.json", "{}");
  const std::string spec = dir.Write("exp/spec.yaml", WithDataSection("data: {store: store}\n"));
  auto s = ParseSpecFile(spec);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->data.store, dir.path() + "/exp/store");
  auto again = ParseSpecString(ToJson(*s).dump(), "resolved");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->data.store, s->data.store);
  EXPECT_EQ(ToJson(*again)["data"].dump(), ToJson(*s)["data"].dump());

  dir.Write("exp/empty/x", "");  // a directory without meta.json
  auto no_meta = ParseSpecFile(dir.Write("exp/b.yaml", WithDataSection("data: {store: empty}\n")));
  ASSERT_FALSE(no_meta.ok());
  EXPECT_NE(no_meta.status().message().find("data.store: empty: has no meta.json"),
            std::string::npos)
      << no_meta.status().message();
  auto both = ParseSpecString(
      WithDataSection("data: {store: /s, train: {images: /a, labels: /b}}\n"), "s.yaml");
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().message(),
            "s.yaml: data.train: not with data.store (the store was prepared from its own source)");
}

// A torchscript model's file (or file template) is found from the spec's directory too,
// fixed or among a choice's values, and so are conditions on it; it need not exist yet
// (the model fails on it, not the run).
TEST(SpecFileTest, RelativeModelFilesAreResolvedAgainstTheSpecsDirectory) {
  SpecDir dir;
  dir.Write("exp/images.gz", "x");
  std::string text = WithDataFiles("images.gz", "images.gz");
  const std::string params =
      "params:\n"
      "  model: torchscript\n"
      // Quoted: inside YAML's [...] and {...}, braces are syntax.
      "  model_file: {choice: ['nets/mlp_{width}.pt', /abs/net.pt, ./other.pt]}\n"
      "  width: {choice: [8, 16], when: {model_file: ['nets/mlp_{width}.pt']}}\n"
      "  batch_size: 128\n";
  text.replace(text.find("params:"), text.find("run:") - text.find("params:"), params);
  auto s = ParseSpecFile(dir.Write("exp/spec.yaml", text));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->params[1].name, "model_file");
  const std::string base = dir.path() + "/exp/";
  EXPECT_EQ(s->params[1].dist.choices,
            (std::vector<Json>{base + "nets/mlp_{width}.pt", "/abs/net.pt", base + "other.pt"}));
  ASSERT_EQ(s->params[2].when.size(), 1u);
  EXPECT_EQ(s->params[2].when[0].values, (std::vector<Json>{base + "nets/mlp_{width}.pt"}));

  const std::string choice = "{choice: ['nets/mlp_{width}.pt', /abs/net.pt, ./other.pt]}";
  text.replace(text.find(choice), choice.size(), "nets/net.pt");
  const std::string when = ", when: {model_file: ['nets/mlp_{width}.pt']}";
  text.replace(text.find(when), when.size(), "");
  s = ParseSpecFile(dir.Write("exp/fixed.yaml", text));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->params[1].value, base + "nets/net.pt");
  // A spec read from a string keeps what it says (there is no directory to resolve from).
  auto from_string = ParseSpecString(text, "text");
  ASSERT_TRUE(from_string.ok()) << from_string.status().ToString();
  EXPECT_EQ(from_string->params[1].value, "nets/net.pt");
}

}  // namespace
}  // namespace cerebro::spec

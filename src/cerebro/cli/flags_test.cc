#include "cerebro/cli/flags.h"

#include <gtest/gtest.h>

#include <map>

namespace cerebro::cli {
namespace {

StatusOr<CommandLine> Parse(std::vector<std::string> args) { return ParseCommandLine(args); }

void ExpectRefused(std::vector<std::string> args, const std::string& message) {
  auto line = Parse(args);
  ASSERT_FALSE(line.ok()) << message;
  EXPECT_EQ(line.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(line.status().message(), message);
}

TEST(FlagsTest, ParsesPositionalsValuesAndSwitches) {
  auto line = Parse({"run", "spec.yaml", "--workers", "3", "--out=runs/x", "--quiet"});
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(line->command, Command::kRun);
  EXPECT_EQ(line->positional, std::vector<std::string>{"spec.yaml"});
  EXPECT_EQ(line->Value("--workers"), "3");
  EXPECT_EQ(line->Value("--out"), "runs/x");
  EXPECT_EQ(line->Value("--epochs", "none"), "none");
  EXPECT_TRUE(line->quiet);
}

TEST(FlagsTest, EachCommandTakesOnlyItsOwnFlags) {
  ExpectRefused({"prepare", "s.yaml", "--workers", "3"},
                "--workers: not a flag of prepare (it takes --out, --partitions, --seed, --quiet)");
  ExpectRefused({"configs", "s.yaml", "--workers", "2"},
                "--workers: not a flag of configs (it takes --seed)");
  ExpectRefused({"resume", "run", "--epochs", "2"},
                "--epochs: not a flag of resume (it takes --wait, --quiet)");
  ExpectRefused({"replay", "run", "--seed", "2"},
                "--seed: not a flag of replay (it takes --out, --quiet)");
  ExpectRefused({"report", "run", "--quiet"}, "--quiet: not a flag of report (it takes --format, --out)");
  EXPECT_TRUE(Parse({"prepare", "s.yaml", "--out", "d", "--partitions", "2", "--seed", "1"}).ok());
  EXPECT_TRUE(Parse({"replay", "run", "--out", "d", "--quiet"}).ok());
}

TEST(FlagsTest, AStrayLastFlagIsUnknownNotMissingAValue) {
  ExpectRefused({"run", "s.yaml", "--bogus"}, "--bogus: unknown flag (see cerebro --help)");
  ExpectRefused({"run", "s.yaml", "--bogus=1"}, "--bogus: unknown flag (see cerebro --help)");
  ExpectRefused({"run", "s.yaml", "--out"}, "--out: missing value");
  // A flag never takes the next flag as its value.
  ExpectRefused({"run", "s.yaml", "--out", "--quiet"}, "--out: missing value");
  ExpectRefused({"run", "s.yaml", "--quiet=yes"}, "--quiet: takes no value");
}

TEST(FlagsTest, UnknownCommand) {
  ExpectRefused({"train", "s.yaml"}, "unknown command 'train' (see cerebro --help)");
}

TEST(FlagsTest, SpecFlagsBecomeOverridesTypedAsTheFlagReadsThem) {
  auto line = Parse({"run", "s.yaml", "--workers", "3", "--epochs", "4294967297", "--seed",
                     "18446744073709551615", "--threads", "x", "--strategy", "task",
                     "--ray-address", "123", "--out", "d", "--quiet"});
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  std::map<std::string, spec::Override> by_flag;
  for (const auto& o : SpecOverrides(*line)) by_flag[o.name] = o;
  ASSERT_EQ(by_flag.size(), 6u);  // not --out or --quiet
  EXPECT_EQ(by_flag["--workers"].path, "run.workers");
  EXPECT_EQ(by_flag["--workers"].value, spec::Json(3));
  EXPECT_EQ(by_flag["--epochs"].value, spec::Json(int64_t{4294967297}));
  EXPECT_EQ(by_flag["--seed"].value, spec::Json(uint64_t{18446744073709551615u}));
  EXPECT_EQ(by_flag["--threads"].path, "run.threads_per_worker");
  EXPECT_EQ(by_flag["--threads"].value, spec::Json("x"));  // the spec's rule refuses it
  EXPECT_EQ(by_flag["--strategy"].value, spec::Json("task"));
  EXPECT_EQ(by_flag["--ray-address"].value, spec::Json("123"));  // text stays text
}

TEST(FlagsTest, RunExtendTakesTheRunDirectoryAndSetsEpochsAndNumModels) {
  auto line = Parse({"run", "--extend", "runs/x", "--epochs", "6", "--num-models=12"});
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_TRUE(line->positional.empty());
  EXPECT_EQ(line->Value("--extend"), "runs/x");
  std::map<std::string, spec::Override> by_flag;
  for (const auto& o : SpecOverrides(*line)) by_flag[o.name] = o;
  ASSERT_EQ(by_flag.size(), 2u);  // not --extend
  EXPECT_EQ(by_flag["--epochs"].path, "run.epochs");
  EXPECT_EQ(by_flag["--num-models"].path, "search.num_models");
  EXPECT_EQ(by_flag["--num-models"].value, spec::Json(12));
  ExpectRefused({"resume", "runs/x", "--extend", "y"},
                "--extend: not a flag of resume (it takes --wait, --quiet)");
}

TEST(FlagsTest, IntegersBeyond64BitsStayTextForTheSpecToRefuse) {
  auto line = Parse({"run", "s.yaml", "--seed", "18446744073709551616", "--workers", "+3"});
  ASSERT_TRUE(line.ok());
  for (const auto& o : SpecOverrides(*line)) EXPECT_TRUE(o.value.is_string()) << o.name;
}

}  // namespace
}  // namespace cerebro::cli

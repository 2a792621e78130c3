// The command-line contract: exit codes, one-line errors that name the field or file,
// and no output directory left behind on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_data.h"

namespace cerebro {
namespace {

using testing::TempDir;

struct CmdResult {
  int exit_code = -1;
  std::string out;  // stdout + stderr
};

CmdResult RunCerebro(const std::string& args) {
  std::string cmd = testing::BinaryDir() + "/cerebro " + args + " 2>&1";
  CmdResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

void ExpectCleanFailure(const CmdResult& r, const std::string& needle, const std::string& out_dir) {
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
  // One line, starting with the program name.
  EXPECT_EQ(r.out.rfind("cerebro: error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out_dir)) << out_dir;
  // ...and no staging directory either.
  auto parent = std::filesystem::path(out_dir).parent_path();
  for (const auto& e : std::filesystem::directory_iterator(parent)) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
  }
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { csv_ = testing::WriteBlobsCsv(tmp_.path(), 300); }
  std::string Spec(const std::string& text) { return WriteFile(tmp_.Join("spec.yaml"), text); }
  std::string Good() { return testing::SmallSpec(csv_, 1, 2); }
  std::string Out() { return tmp_.Join("out"); }
  std::string Replace(std::string s, const std::string& from, const std::string& to) {
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  }
  TempDir tmp_;
  std::string csv_;
};

TEST_F(CliTest, RunSucceedsAndWritesSummaryWithContractFields) {
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --epochs 2 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rank"), std::string::npos);
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  for (const char* k : {"model_id", "metric", "direction", "value"}) EXPECT_TRUE(j["best"].contains(k)) << k;
  ASSERT_EQ(j["models"].size(), 4u);
  for (const auto& m : j["models"]) {
    for (const char* k : {"id", "params", "status", "history"}) EXPECT_TRUE(m.contains(k)) << k;
    EXPECT_EQ(m["history"].size(), 2u);  // --epochs overrides the spec
  }
  auto report = RunCerebro("report " + Out());
  EXPECT_EQ(report.exit_code, 0);
  EXPECT_NE(report.out.find("completed"), std::string::npos);
}

TEST_F(CliTest, ConfigsPrintsWhatARunWritesToModelsJsonWithoutTraining) {
  const std::string spec = Spec(Good());
  auto r = RunCerebro("configs " + spec + " --seed 11");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(std::filesystem::exists(Out()));
  auto printed = nlohmann::json::parse(r.out);
  ASSERT_EQ(printed.size(), 4u);
  r = RunCerebro("run " + spec + " --seed 11 --out " + Out() + " --epochs 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(printed, nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/models.json")));

  ExpectCleanFailure(RunCerebro("configs " + spec + " --workers 2"),
                     "--workers: not a flag of configs (it takes --seed)", tmp_.Join("none"));
}

TEST_F(CliTest, UnknownKeyInSpec) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "  epochs:", "  epoch:")) + " --out " + Out()),
                     "run.epoch: unknown key", Out());
}

TEST_F(CliTest, WrongTypeInSpec) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "batch_size: 32", "batch_size: many")) +
                                " --out " + Out()),
                     "batch_size", Out());
}

TEST_F(CliTest, EmptyChoice) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "[0.01, 0.003]", "[]")) + " --out " + Out()),
                     "params.lr.choice: empty choice", Out());
}

TEST_F(CliTest, MinNotBelowMax) {
  std::string text = Replace(Good(), "{choice: [0.01, 0.003]}", "{uniform: [0.1, 0.01]}");
  ExpectCleanFailure(RunCerebro("run " + Spec(text) + " --out " + Out()), "params.lr.uniform: low must be < high",
                     Out());
}

TEST_F(CliTest, MissingDataFile) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), csv_, tmp_.Join("nope.csv"))) + " --out " + Out()),
                     tmp_.Join("nope.csv"), Out());
}

TEST_F(CliTest, TruncatedDataFile) {
  // A gzip'd IDX image file cut short: the reader must name the file.
  std::string images = tmp_.Join("images.gz"), labels = tmp_.Join("labels.gz");
  {
    gzFile g = gzopen(images.c_str(), "wb");
    unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(g, header, sizeof(header));
    std::string some(28 * 28 * 10, '\x01');  // 10 of the 100 images promised
    gzwrite(g, some.data(), some.size());
    gzclose(g);
    gzFile l = gzopen(labels.c_str(), "wb");
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 100};
    gzwrite(l, lh, sizeof(lh));
    std::string ls(100, '\x01');
    gzwrite(l, ls.data(), ls.size());
    gzclose(l);
  }
  std::string text = Replace(Good(), "  format: csv\n", "  format: idx\n");
  text = Replace(text, "{path: " + csv_ + ", header: true, label_column: label}",
                 "{images: " + images + ", labels: " + labels + "}");
  ExpectCleanFailure(RunCerebro("run " + Spec(text) + " --out " + Out()), images, Out());
}

TEST_F(CliTest, MorePartitionsThanExamples) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --workers 500"), "partitions",
                     Out());
}

TEST_F(CliTest, BadModelFieldNamesTheField) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "optimizer: adam", "optimizer: adamax")) +
                                " --out " + Out()),
                     "optimizer", Out());
}

TEST_F(CliTest, BadFlag) {
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --workers zero");
  ExpectCleanFailure(r, "--workers: expected a positive integer, got 'zero'", Out());
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --wrkers 2"), "--wrkers", Out());
  // The last argument: an unknown flag, not a missing value.
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --bogus"),
                     "--bogus: unknown flag", Out());
}

// Flag values are checked by the spec's range rules, never wrapped to 32 bits.
TEST_F(CliTest, OverflowingFlagsAreRefusedNotWrapped) {
  const std::string run = "run " + Spec(Good()) + " --out " + Out();
  ExpectCleanFailure(RunCerebro(run + " --epochs 4294967297"), "--epochs: too large: 4294967297",
                     Out());
  ExpectCleanFailure(RunCerebro(run + " --workers 4294967298"), "--workers: too large: 4294967298",
                     Out());
  ExpectCleanFailure(RunCerebro(run + " --seed 18446744073709551616"),
                     "--seed: expected an integer in [0, 2^64 - 1]", Out());
}

TEST_F(CliTest, EachCommandTakesOnlyItsOwnFlags) {
  ExpectCleanFailure(RunCerebro("prepare " + Spec(Good()) + " --out " + Out() + " --workers 3"),
                     "--workers: not a flag of prepare (it takes --out, --partitions, --seed)",
                     Out());
  ExpectCleanFailure(RunCerebro("resume " + Out() + " --epochs 3"),
                     "--epochs: not a flag of resume (it takes --quiet)", Out());
}

// `cerebro report` reads summary.json strictly: one line and exit 2, never an abort.
TEST_F(CliTest, ReportOnAMalformedSummaryIsOneLine) {
  const std::string dir = tmp_.Join("run");
  std::filesystem::create_directories(dir);
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: no summary (is the run finished?)",
                     tmp_.Join("none"));
  const std::string good = R"({"metric": "accuracy", "direction": "max", "best": null,
      "strategy": "mop", "backend": "local", "workers": 2, "partitions": 2, "epochs": 1,
      "seed": 5, "order": "random",
      "timing": {"wall_seconds": 1.0, "prepare_seconds": 0.5, "compute_seconds": 1.0,
                 "transfer_seconds": 0.0, "state_codec_seconds": 0.0,
                 "checkpoint_seconds": 0.0, "train_examples": 10,
                 "train_samples_per_second": 10.0, "state_bytes_moved": 0},
      "checkpoint_bytes": 0,
      "models": [{"id": 0, "rank": 1, "params": {"model": "mlp"}, "status": "completed",
                  "train_units": 2, "eval_units": 2,
                  "history": [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5,
                               "val_loss": 0.9, "val_accuracy": 0.625, "seconds": 0.1}],
                  "checkpoint": null}]})";
  WriteFile(dir + "/summary.json", good);
  auto r = RunCerebro("report " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("completed  0.6250"), std::string::npos) << r.out;
  WriteFile(dir + "/summary.json", good.substr(0, good.size() / 2));
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: not valid JSON",
                     tmp_.Join("none"));
  WriteFile(dir + "/summary.json", "rank model status\n");
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: not valid JSON",
                     tmp_.Join("none"));
  WriteFile(dir + "/summary.json",
            Replace(good, R"("history": [)", R"("history": "none", "x": [)"));
  ExpectCleanFailure(RunCerebro("report " + dir),
                     "summary.json: models[0].history: expected an array", tmp_.Join("none"));
}

TEST_F(CliTest, ExistingOutputDirectoryIsNotTouched) {
  std::filesystem::create_directories(Out());
  WriteFile(Out() + "/keep.txt", "x");
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  EXPECT_EQ(testing::ReadFileOrEmpty(Out() + "/keep.txt"), "x");
}

}  // namespace
}  // namespace cerebro

// `cerebro export` and `cerebro predict` after a tiny real run: the best model by default,
// any kept model by id, predictions whose accuracy is the run's own; and bad input (no
// finished model, an unknown id, a damaged state, data of the wrong width) is one line,
// exit 2, nothing written. (tests/export_test.py loads the file in Python.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_data.h"

namespace cerebro {
namespace {

namespace fs = std::filesystem;
using testing::CmdResult;
using testing::RunCerebro;
using testing::TempDir;

void ExpectOneLineError(const CmdResult& r, const std::string& needle, const std::string& out) {
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.out.rfind("cerebro: error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(fs::exists(out)) << out;
}

int CountLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class ExportCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<TempDir>();
    csv_ = testing::WriteBlobsCsv(tmp_->path(), 300);
    std::ofstream(tmp_->Join("spec.yaml"))
        << testing::SmallSpec(csv_, 2, 2, "  order: fixed\n  partitions: 2\n");
    auto r = RunCerebro("run " + tmp_->Join("spec.yaml") + " --out " + Run() + " --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    std::ifstream in(Run() + "/summary.json");
    summary_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { tmp_.reset(); }
  static std::string Run() { return tmp_->Join("run"); }
  static std::string Join(const std::string& name) { return tmp_->Join(name); }
  static int Best() { return summary_["best"]["model_id"].get<int>(); }

  // A copy of the run to damage.
  std::string CopyOfRun(const std::string& name) {
    const std::string dir = Join(name);
    fs::remove_all(dir);
    fs::copy(Run(), dir, fs::copy_options::recursive);
    return dir;
  }

  static std::unique_ptr<TempDir> tmp_;
  static std::string csv_;
  static nlohmann::json summary_;
};

std::unique_ptr<TempDir> ExportCliTest::tmp_;
std::string ExportCliTest::csv_;
nlohmann::json ExportCliTest::summary_;

TEST_F(ExportCliTest, ExportsTheBestModelByDefaultAndAnyKeptModelById) {
  const std::string out = Join("best.pt");
  auto r = RunCerebro("export " + Run() + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("exported model " + std::to_string(Best()) + " (val accuracy ", 0), 0u)
      << r.out;
  EXPECT_GT(fs::file_size(out), 1000u);
  // A TorchScript file is a zip archive.
  EXPECT_EQ(testing::ReadFileOrEmpty(out).substr(0, 2), "PK");

  for (const auto& m : summary_["models"]) {
    const std::string id = std::to_string(m["id"].get<int>());
    r = RunCerebro("export " + Run() + " --model " + id + " --out " + Join("m" + id + ".pt"));
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
}

TEST_F(ExportCliTest, PredictReproducesTheRecordedAccuracyOnTheTrainingFile) {
  const std::string out = Join("preds.csv");
  auto r = RunCerebro("predict " + Run() + " --data " + csv_ + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("model " + std::to_string(Best()) + " on 300 examples: accuracy "),
            std::string::npos)
      << r.out;
  const std::string csv = testing::ReadFileOrEmpty(out);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "row,label,predicted,p0,p1,p2");
  EXPECT_EQ(CountLines(csv), 301);

  // Without --out the CSV goes to stdout (RunCerebro merges stderr into the output).
  r = RunCerebro("predict " + Run() + " --data " + csv_ + " --model " + std::to_string(Best()));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(CountLines(r.out), 302) << r.out.substr(0, 500);
}

TEST_F(ExportCliTest, AnUnknownOrMalformedModelIdIsOneLine) {
  const std::string out = Join("never.pt");
  ExpectOneLineError(RunCerebro("export " + Run() + " --model 99 --out " + out), "has no model 99",
                     out);
  ExpectOneLineError(RunCerebro("export " + Run() + " --model two --out " + out),
                     "--model: expected a model id, not 'two'", out);
  ExpectOneLineError(
      RunCerebro("predict " + Run() + " --data " + csv_ + " --model 99 --out " + out),
      "has no model 99", out);
  ExpectOneLineError(RunCerebro("export " + Join("nowhere") + " --out " + out), "nowhere", out);
}

TEST_F(ExportCliTest, DataOfTheWrongWidthIsOneLineNamingTheFileAndWidth) {
  const std::string narrow = Join("narrow.csv");
  std::ofstream(narrow) << "f0,f1,f2,label\n1,2,3,0\n4,5,6,1\n";
  const std::string out = Join("narrow_preds.csv");
  ExpectOneLineError(RunCerebro("predict " + Run() + " --data " + narrow + " --out " + out),
                     narrow + ": examples have 3 features; model " + std::to_string(Best()) +
                         " expects 8 (feature shape [8])",
                     out);
}

TEST_F(ExportCliTest, ARunWithNoFinishedModelIsRefused) {
  // The journal cut before the first unit: a run killed at once.
  const std::string dir = CopyOfRun("unfinished");
  std::istringstream journal(testing::ReadFileOrEmpty(dir + "/journal.jsonl"));
  std::string kept, line;
  while (std::getline(journal, line) && line.find("\"type\":\"unit\"") == std::string::npos) {
    kept += line + "\n";
  }
  std::ofstream(dir + "/journal.jsonl", std::ios::trunc) << kept;
  fs::remove(dir + "/summary.json");
  const std::string out = Join("unfinished.pt");
  ExpectOneLineError(RunCerebro("export " + dir + " --out " + out), "no finished model", out);
  ExpectOneLineError(RunCerebro("predict " + dir + " --data " + csv_ + " --out " + out),
                     "no finished model", out);
  ExpectOneLineError(RunCerebro("export " + dir + " --model 0 --out " + out),
                     "model 0 has not finished (pending)", out);
}

TEST_F(ExportCliTest, ADamagedStateIsRefused) {
  const std::string dir = CopyOfRun("damaged");
  std::string checkpoint;
  for (const auto& m : summary_["models"]) {
    if (m["id"].get<int>() == Best()) checkpoint = dir + "/" + m["checkpoint"].get<std::string>();
  }
  ASSERT_FALSE(checkpoint.empty());
  std::string bytes = testing::ReadFileOrEmpty(checkpoint);
  ASSERT_GT(bytes.size(), 100u);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << bytes;
  const std::string out = Join("damaged.pt");
  ExpectOneLineError(RunCerebro("export " + dir + " --out " + out), "do not match the journal",
                     out);
}

}  // namespace
}  // namespace cerebro

// `cerebro run --extend` with real worker processes: a finished 2-epoch grid extended to 3
// epochs trains each model on from its checkpoint (weights and Adam moments) and, with
// order: fixed, reaches bitwise the metrics of a 3-epoch run from scratch (unit seeds and
// partition orders depend on (model, epoch) only, not on the run's epoch count). The CLI
// refuses what does not fit with one line and exit 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "cerebro/driver/driver.h"
#include "run_helpers.h"
#include "test_data.h"

namespace cerebro {
namespace {

using testing::Options;
using testing::ParseOrDie;
using testing::TempDir;

// metrics.jsonl rows (no timing or placement), sorted: the row order follows when epochs
// finished, which differs between an extended run and one that had the epochs at once.
std::vector<std::string> Metrics(const std::string& run_dir) {
  std::vector<std::string> rows;
  for (const auto& j : testing::ReadJsonLines(run_dir + "/metrics.jsonl")) rows.push_back(j.dump());
  std::sort(rows.begin(), rows.end());
  return rows;
}

TEST(ExtendE2eTest, TwoEpochsExtendedToThreeEqualThreeFromScratch) {
  TempDir tmp;
  const std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  auto three = driver::RunExperiment(ParseOrDie(testing::SmallSpec(csv, 3, 2, "  order: fixed\n")),
                                     Options(tmp.Join("three")));
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  auto two = driver::RunExperiment(ParseOrDie(testing::SmallSpec(csv, 2, 2, "  order: fixed\n")),
                                   Options(tmp.Join("two")));
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ASSERT_EQ(Metrics(two->run_dir).size(), 8u);  // 4 models x 2 epochs
  auto extended =
      driver::ExtendExperiment(two->run_dir, {{"run.epochs", 3, "--epochs"}}, Options(""));
  ASSERT_TRUE(extended.ok()) << extended.status().ToString();
  EXPECT_EQ(Metrics(two->run_dir), Metrics(three->run_dir));
  ASSERT_EQ(extended->models.size(), 4u);
  for (const auto& m : extended->models) {
    EXPECT_EQ(m.status, ModelStatus::kCompleted);
    ASSERT_EQ(m.history.size(), 3u);
    EXPECT_EQ(m.history.back().epoch, 3);
  }
  testing::ExpectEveryUnitExactlyOnce(two->run_dir, 4, 3, 2);

  // The CLI: what does not fit is one line and exit 2, and changes nothing.
  const std::string journal = testing::ReadFileOrEmpty(two->run_dir + "/journal.jsonl");
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--epochs 3", "--epochs: the run trains its models 3 epochs already; give more"},
           {"--epochs 4 --workers 1", "--workers: not with --extend"},
           {"", "--extend: give --epochs N"},
           {"--num-models 5", "--num-models: only used by random search"}}) {
    SCOPED_TRACE(args);
    const testing::CmdResult r = testing::RunCerebro("run --extend " + two->run_dir + " " + args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find("cerebro: error: " + message), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  const testing::CmdResult spec =
      testing::RunCerebro("run " + tmp.Join("spec.yaml") + " --extend " + two->run_dir);
  EXPECT_EQ(spec.exit_code, 2) << spec.out;
  EXPECT_EQ(testing::ReadFileOrEmpty(two->run_dir + "/journal.jsonl"), journal);
  // And one more epoch through the CLI.
  const testing::CmdResult more =
      testing::RunCerebro("run --extend " + two->run_dir + " --epochs 4 --quiet");
  EXPECT_EQ(more.exit_code, 0) << more.out;
  EXPECT_EQ(Metrics(two->run_dir).size(), 16u);
}

}  // namespace
}  // namespace cerebro

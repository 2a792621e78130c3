// `cerebro report --format html` in a real browser: a small fixed-order run's page is
// rendered by headless Chromium (Debian's `chromium`, installed by scripts/setup.sh), which
// must run its script without an error and show the run's best model and metric; a
// screenshot is left in the build directory (report_test.png) for a person to look at.
// Skipped only when chromium is not installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "test_data.h"

namespace cerebro {
namespace {

using testing::RunCerebro;
using testing::TempDir;

// Runs `command` through the shell with stdout and stderr together.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

std::set<std::string> FilesUnder(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    out.insert(e.path().string() + " " +
               (e.is_regular_file() ? std::to_string(e.file_size()) : std::string("dir")));
  }
  return out;
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    csv_ = testing::WriteBlobsCsv(tmp_.path(), 300);
    std::ofstream(tmp_.Join("spec.yaml"))
        << testing::SmallSpec(csv_, 2, 2, "  order: fixed\n  partitions: 2\n");
    auto r = RunCerebro("run " + tmp_.Join("spec.yaml") + " --out " + Run() + " --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    std::ifstream in(Run() + "/summary.json");
    summary_ = nlohmann::json::parse(in);
  }
  std::string Run() const { return tmp_.Join("run"); }

  TempDir tmp_;
  std::string csv_;
  nlohmann::json summary_;
};

TEST_F(ReportBrowserTest, HtmlRendersInChromiumWithoutErrorsAndShowsTheBestModel) {
  if (Shell("command -v chromium").empty()) GTEST_SKIP() << "chromium not installed";
  const std::set<std::string> before = FilesUnder(Run());
  auto r = RunCerebro("report " + Run() + " --format html");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string page = Run() + "/report.html";
  ASSERT_TRUE(std::filesystem::exists(page));
  // The report adds its page and nothing else to the run directory.
  std::set<std::string> after = FilesUnder(Run());
  for (auto it = after.begin(); it != after.end();) {
    it = it->rfind(page + " ", 0) == 0 ? after.erase(it) : std::next(it);
  }
  EXPECT_EQ(after, before);

  const std::string chromium = "chromium --headless --disable-gpu --no-sandbox "
                               "--user-data-dir=" + tmp_.Join("profile") + " ";
  const std::string dom =
      Shell(chromium + "--enable-logging=stderr --v=0 --dump-dom file://" + page);
  EXPECT_NE(dom.find("id=\"js-status\">ok<"), std::string::npos) << dom.substr(0, 4000);
  EXPECT_EQ(dom.find("Uncaught"), std::string::npos) << dom.substr(0, 4000);
  char best[128];
  std::snprintf(best, sizeof(best), "best: model <b>%d</b>, val accuracy <b>%.4f</b>",
                summary_["best"]["model_id"].get<int>(), summary_["best"]["value"].get<double>());
  EXPECT_NE(dom.find(best), std::string::npos) << best;
  // The script drew the Gantt: a bar per timed unit.
  size_t bars = 0;
  for (size_t p = dom.find("class=\"unit\""); p != std::string::npos;
       p = dom.find("class=\"unit\"", p + 1)) {
    ++bars;
  }
  EXPECT_GT(bars, 0u);

  const std::string png = testing::BinaryDir() + "/report_test.png";
  std::filesystem::remove(png);
  Shell(chromium + "--hide-scrollbars --window-size=1400,2000 --screenshot=" + png +
        " file://" + page);
  EXPECT_GT(std::filesystem::exists(png) ? std::filesystem::file_size(png) : 0u, 10000u);
}

TEST_F(ReportBrowserTest, MarkdownGoesToStdoutAndABadFormatIsOneLine) {
  auto r = RunCerebro("report " + Run() + " --format md");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("## Ranked models"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("**best: model " + std::to_string(summary_["best"]["model_id"].get<int>())),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(Run() + "/report.html"));

  r = RunCerebro("report " + Run() + " --format pdf");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.out, "cerebro: error: --format: expected table, html or md, not 'pdf'\n");
}

// A run killed before it wrote summary.json (or one still running) is reported from its
// journal: the same models and best, marked not finished.
TEST_F(ReportBrowserTest, ARunWithoutASummaryIsReportedFromItsJournal) {
  std::filesystem::remove(Run() + "/summary.json");
  auto r = RunCerebro("report " + Run() + " --format md");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("**not finished**"), std::string::npos) << r.out;
  char best[96];
  std::snprintf(best, sizeof(best), "**best: model %d, val accuracy %.4f**",
                summary_["best"]["model_id"].get<int>(), summary_["best"]["value"].get<double>());
  EXPECT_NE(r.out.find(best), std::string::npos) << best << "\n" << r.out;
  EXPECT_FALSE(std::filesystem::exists(Run() + "/summary.json"));  // nothing written

  r = RunCerebro("report " + tmp_.path() + " --format html");  // no run here
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("no summary (is the run finished?)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace cerebro

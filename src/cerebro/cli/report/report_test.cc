// The report's reading (read-only, tolerant of a live run's torn last line) and what both
// formats show. The browser-side rendering is tested in tests/report_test.cc.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "cerebro/cli/report/report_data.h"
#include "cerebro/cli/report/report_html.h"
#include "cerebro/cli/report/report_md.h"

namespace cerebro::cli {
namespace {

store::EpochRow Row(int model, int epoch, double val_acc) {
  store::EpochRow r;
  r.model_id = model;
  r.epoch = epoch;
  r.val_accuracy = val_acc;
  r.val_loss = 1 - val_acc;
  r.train_accuracy = val_acc - 0.01;
  return r;
}

store::Summary ThreeModels() {
  store::Summary s;
  s.name = "demo";
  s.best_model = 2;
  s.best_value = 0.875;
  s.strategy = "mop";
  s.backend = "local";
  s.order = "fixed";
  s.workers = 2;
  store::ModelOutcome best;
  best.id = 2;
  best.rank = 1;
  best.status = ModelStatus::kCompleted;
  best.params = {{"lr", 0.01}, {"note", "</script><b>"}};
  best.history = {Row(2, 1, 0.8), Row(2, 2, 0.875)};
  store::ModelOutcome stopped = best;
  stopped.id = 0;
  stopped.rank = 2;
  stopped.status = ModelStatus::kStopped;
  stopped.failure = "procedure: rung 1";
  stopped.params = {{"lr", 0.1}, {"note", "x"}};
  stopped.history = {Row(0, 1, 0.5)};
  store::ModelOutcome failed;
  failed.id = 1;
  failed.rank = 3;
  failed.status = ModelStatus::kFailed;
  failed.failure = "loss is NaN";
  failed.params = {{"lr", 1.0}, {"note", "y"}};
  s.models = {best, stopped, failed};
  return s;
}

store::UnitDone Unit(int model, int worker, double start, double end) {
  store::UnitDone u;
  u.model = model;
  u.worker = worker;
  u.submitted_at = start;
  u.finished_at = end;
  u.checkpoint = "checkpoints/m" + std::to_string(model) + ".state";
  return u;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cerebro_report_XXXXXX";
    dir_ = mkdtemp(tmpl);
    const std::string summary = SummaryToJson(ThreeModels()).dump(2);
    ASSERT_TRUE(fs_.WriteFileAtomic(dir_ + "/summary.json", summary).ok());
    store::ProcedureDecision d;
    d.epochs_seen = 3;
    d.actions = {store::ModelStopped{0, store::StopReason::kProcedure, "rung 1"},
                 store::ModelAdded{3, {{"lr", 0.02}}, store::ModelOrigin::kProcedure, 2, 2, ""}};
    journal_ = store::EncodeRecord(store::JournalHeader{}) + "\n" +
               store::EncodeRecord(Unit(2, 0, 100, 101.5)) + "\n" +
               store::EncodeRecord(Unit(0, 1, 100, 102)) + "\n" + store::EncodeRecord(d) + "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteJournal(const std::string& text) {
    ASSERT_TRUE(fs_.WriteFileAtomic(dir_ + "/journal.jsonl", text).ok());
  }

  FileSystem& fs_ = RealFileSystem();
  std::string dir_, journal_;
};

TEST_F(ReportTest, ReadsUnitsAndDecisionsAndLeavesATornLastLineInPlace) {
  const std::string torn = journal_ + store::EncodeRecord(Unit(2, 1, 102, 103)).substr(0, 20);
  WriteJournal(torn);
  auto data = LoadReportData(&fs_, dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  ASSERT_EQ(data->units.size(), 2u);
  EXPECT_EQ(data->units[1].worker, 1);
  ASSERT_EQ(data->decisions.size(), 1u);
  EXPECT_EQ(data->summary.best_model, 2);
  EXPECT_EQ(*fs_.ReadFile(dir_ + "/journal.jsonl"), torn);  // read-only: not truncated

  const std::vector<WorkerActivity> workers = ActivityByWorker(data->units);
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_DOUBLE_EQ(workers[0].busy_seconds, 1.5);
  EXPECT_DOUBLE_EQ(TimelineSpan(data->units), 2.0);
}

TEST_F(ReportTest, ACorruptLineBeforeTheEndIsDataLossNamingTheLine) {
  WriteJournal(journal_ + "{not json\n" + store::EncodeRecord(Unit(2, 1, 102, 103)) + "\n");
  auto data = LoadReportData(&fs_, dir_);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(data.status().message().find("journal.jsonl:5: "), std::string::npos)
      << data.status().message();
}

TEST_F(ReportTest, NoSummaryIsNotFound) {
  std::filesystem::remove(dir_ + "/summary.json");
  EXPECT_EQ(LoadReportData(&fs_, dir_).status().code(), StatusCode::kNotFound);
}

TEST_F(ReportTest, HtmlIsOneFileWithTheNumbersAndNoWayOutOfItsScript) {
  WriteJournal(journal_);
  auto data = LoadReportData(&fs_, dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  const std::string html = RenderHtmlReport(*data);
  EXPECT_NE(html.find("best: model <b>2</b>, val accuracy <b>0.8750</b>"), std::string::npos);
  EXPECT_NE(html.find("model 1 failed after 0 epochs: loss is NaN"), std::string::npos);
  EXPECT_NE(html.find("stop model 0 (procedure: rung 1)"), std::string::npos);
  EXPECT_NE(html.find("add model 3 from model 2 for 2 epochs"), std::string::npos);
  // Offline: nothing is fetched.
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  // A parameter's text cannot end the data script early; the table escapes it.
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;b&gt;"), std::string::npos);
}

TEST_F(ReportTest, MarkdownHasTheTableCurvesWorkersAndDecisions) {
  WriteJournal(journal_);
  auto data = LoadReportData(&fs_, dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  const std::string md = RenderMarkdownReport(*data);
  EXPECT_NE(md.find("**best: model 2, val accuracy 0.8750**"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | 2 | completed | 0.8750 | 0.1250 | 0.8650 | 2 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| 2 | 0.8000 | 0.8750 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0 | 1 | 1.5 | 75 |"), std::string::npos) << md;
  EXPECT_NE(md.find("- model 0 stopped after 1 epochs: procedure: rung 1"), std::string::npos);
  EXPECT_NE(md.find("- after 3 model-epochs: add model 3 from model 2"), std::string::npos);
}

TEST_F(ReportTest, TheCurvesHeadingNamesTheMetricTheRunRanksBy) {
  WriteJournal(journal_);
  auto data = LoadReportData(&fs_, dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_NE(RenderMarkdownReport(*data).find("\n## val accuracy per epoch\n"), std::string::npos);
  store::Summary s = ThreeModels();
  s.metric = "train_loss";  // not a validation metric: the heading must not say so
  s.direction = spec::Direction::kMinimize;
  auto by_train_loss = LoadReportData(&fs_, dir_, s);
  ASSERT_TRUE(by_train_loss.ok()) << by_train_loss.status().message();
  const std::string md = RenderMarkdownReport(*by_train_loss);
  EXPECT_NE(md.find("\n## train_loss per epoch\n"), std::string::npos) << md;
  EXPECT_EQ(md.find("Validation"), std::string::npos) << md;
}

TEST_F(ReportTest, BothFormatsNameTheParetoFrontOfATwoObjectiveRun) {
  WriteJournal(journal_);
  store::Summary s = ThreeModels();
  s.metric = "accuracy";
  s.objectives = {{"accuracy", spec::Direction::kMaximize},
                  {"num_parameters", spec::Direction::kMinimize}};
  s.pareto_front = {2, 0};
  auto data = LoadReportData(&fs_, dir_, s);
  ASSERT_TRUE(data.ok()) << data.status().message();
  const std::string front = "Pareto front (val_accuracy max, num_parameters min): models 2, 0";
  EXPECT_EQ(DescribeFront(s), front);
  EXPECT_NE(RenderMarkdownReport(*data).find("**" + front + "**"), std::string::npos);
  EXPECT_NE(RenderHtmlReport(*data).find("<div class=\"best\" id=\"pareto\">" + front + "</div>"),
            std::string::npos);
  EXPECT_EQ(DescribeFront(ThreeModels()), "");  // one objective: no front line
}

}  // namespace
}  // namespace cerebro::cli

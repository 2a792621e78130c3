#include "cerebro/cli/ranked_table.h"

#include <gtest/gtest.h>

namespace cerebro::cli {
namespace {

store::ModelOutcome Model(int id, int rank, ModelStatus status, double val_accuracy,
                          std::string failure = "") {
  store::ModelOutcome m;
  m.id = id;
  m.rank = rank;
  m.params = spec::Json{{"model", "mlp"}, {"lr", 0.01}};
  m.status = status;
  m.failure = std::move(failure);
  store::EpochRow r;
  r.model_id = id;
  r.epoch = 1;
  r.val_accuracy = val_accuracy;
  r.val_loss = 0.5;
  r.train_accuracy = 0.25;
  if (status != ModelStatus::kFailed) m.history = {r};
  return m;
}

TEST(RankedTableTest, FormatsAsTheRunAlwaysPrintedIt) {
  store::Summary s;
  s.metric = "accuracy";
  s.models = {Model(2, 1, ModelStatus::kCompleted, 0.875),
              Model(0, 2, ModelStatus::kStopped, 0.75, "procedure decision"),
              Model(1, 3, ModelStatus::kFailed, 0, "non-finite validation loss after epoch 1")};
  EXPECT_EQ(FormatRankedTable(s),
            "rank model status     val_accuracy val_loss  train_acc  params\n"
            "1    2     completed  0.8750    0.5000    0.2500     {\"model\":\"mlp\",\"lr\":0.01}\n"
            "2    0     stopped    0.7500    0.5000    0.2500     {\"model\":\"mlp\",\"lr\":0.01}"
            "  (procedure decision)\n"
            "3    1     failed     -         -         -          {\"model\":\"mlp\",\"lr\":0.01}"
            "  (non-finite validation loss after epoch 1)\n");
}

TEST(RankedTableTest, RanksByLossWhenTheMetricIsLoss) {
  store::Summary s;
  s.metric = "loss";
  s.models = {Model(0, 1, ModelStatus::kCompleted, 0.875)};
  EXPECT_EQ(FormatRankedTable(s),
            "rank model status     val_loss  val_loss  train_acc  params\n"
            "1    0     completed  0.5000    0.5000    0.2500     "
            "{\"model\":\"mlp\",\"lr\":0.01}\n");
}

TEST(RankedTableTest, TwoObjectivesMarkTheParetoFrontAndShowEachObjective) {
  store::Summary s;
  s.metric = "accuracy";
  s.objectives = {{"accuracy", spec::Direction::kMaximize},
                  {"num_parameters", spec::Direction::kMinimize}};
  s.pareto_front = {2, 0};
  s.models = {Model(2, 1, ModelStatus::kCompleted, 0.875),
              Model(0, 2, ModelStatus::kStopped, 0.75, "procedure decision"),
              Model(3, 3, ModelStatus::kCompleted, 0.5),
              Model(1, 4, ModelStatus::kFailed, 0, "diverged")};
  s.models[0].num_parameters = 1200;
  s.models[1].num_parameters = 35;
  s.models[2].num_parameters = 1200;
  EXPECT_EQ(FormatRankedTable(s),
            "rank model status     pareto val_accuracy num_parameters val_loss  train_acc  params\n"
            "1    2     completed  *      0.8750       1200           0.5000    0.2500     "
            "{\"model\":\"mlp\",\"lr\":0.01}\n"
            "2    0     stopped    *      0.7500       35             0.5000    0.2500     "
            "{\"model\":\"mlp\",\"lr\":0.01}  (procedure decision)\n"
            "3    3     completed         0.5000       1200           0.5000    0.2500     "
            "{\"model\":\"mlp\",\"lr\":0.01}\n"
            "4    1     failed            -            -              -         -          "
            "{\"model\":\"mlp\",\"lr\":0.01}  (diverged)\n");
}

TEST(RankedTableTest, LongParamsAreNotCut) {
  store::Summary s;
  store::ModelOutcome m = Model(0, 1, ModelStatus::kCompleted, 0.5);
  m.params = spec::Json{{"note", std::string(600, 'x')}};
  s.models = {m};
  const std::string table = FormatRankedTable(s);
  EXPECT_NE(table.find(std::string(600, 'x') + "\"}\n"), std::string::npos);
}

}  // namespace
}  // namespace cerebro::cli

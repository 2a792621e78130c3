// A model trained by the Trainer, then exported and used for predictions: the exported
// TorchScript file on raw bytes and Predict on the decoded dataset agree with the
// trainer's own evaluation.
#include "cerebro/train/export_model.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cerebro/train/trainer.h"

namespace cerebro::train {
namespace {

constexpr double kScale = 1.0 / 255;

// 8-bit 4x4 images of 3 classes: class c is brighter in rows 0..c.
data::Dataset Images(int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> pixel(0, 120);
  data::Dataset d;
  d.feature_shape = {1, 4, 4};
  d.encoding = data::FeatureEncoding::kUint8;
  d.byte_feature_scale = kScale;
  d.num_classes = 3;
  for (int i = 0; i < n; ++i) {
    const int label = i % 3;
    for (int p = 0; p < 16; ++p) {
      d.byte_features.push_back(static_cast<uint8_t>(pixel(gen) + (p / 4 <= label ? 120 : 0)));
    }
    d.int_labels.push_back(label);
  }
  return d;
}

const char* kConfig = R"({"model":"cnn","conv_channels":[4],"dense":[8],"lr":0.01})";

class ExportModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(trainer_.SetPartition(PartitionKind::kTrain, Images(300, 1)).ok());
    ASSERT_TRUE(trainer_.SetPartition(PartitionKind::kVal, Images(90, 2)).ok());
    UnitRequest train{kConfig, true, 3, 4};
    auto trained = trainer_.RunUnit(train);
    ASSERT_TRUE(trained.ok()) << trained.status().ToString();
    state_.assign(trained->state.data(), trained->state.data() + trained->state.size());
    UnitRequest eval{kConfig, false, 3, 5, state_.data(), state_.size()};
    auto evaluated = trainer_.RunUnit(eval);
    ASSERT_TRUE(evaluated.ok()) << evaluated.status().ToString();
    eval_correct_ = static_cast<int64_t>(evaluated->correct);
    model_ = TrainedModel{kConfig, {1, 4, 4}, 3, state_.data(), state_.size()};
  }

  Trainer trainer_;
  std::vector<uint8_t> state_;
  int64_t eval_correct_ = 0;
  TrainedModel model_;
};

TEST_F(ExportModelTest, PredictMatchesTheTrainersEvaluation) {
  int64_t last_done = 0;
  auto p = Predict(model_, Images(90, 2), [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 90);
    last_done = done;
  });
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(last_done, 90);
  EXPECT_EQ(p->num_examples, 90);
  EXPECT_EQ(p->correct, eval_correct_);
  EXPECT_GT(p->correct, 40);  // better than chance (30)
  ASSERT_EQ(p->scores.size(), 90u * 3);
  EXPECT_NEAR(p->scores[0] + p->scores[1] + p->scores[2], 1.0, 1e-5);
}

TEST_F(ExportModelTest, TheTorchScriptFileTakesRawBytesAndPredictsTheSame) {
  auto file = ExportTorchScriptFile(model_, kScale, R"({"family":"cnn"})");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::istringstream in(*file);
  torch::jit::ExtraFilesMap extra{{"cerebro.json", ""}};
  torch::jit::Module m = torch::jit::load(in, c10::nullopt, extra);
  EXPECT_EQ(extra["cerebro.json"], R"({"family":"cnn"})");

  data::Dataset val = Images(90, 2);
  torch::Tensor raw =
      torch::from_blob(val.byte_features.data(), {90, 16}, torch::kUInt8).to(torch::kFloat);
  const torch::Tensor labels = torch::tensor(val.int_labels);
  torch::NoGradGuard no_grad;
  torch::Tensor logits = m.forward({raw}).toTensor();
  auto p = Predict(model_, std::move(val));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  torch::Tensor probs = torch::softmax(logits, 1);
  torch::Tensor expected = torch::from_blob(p->scores.data(), {90, 3}, torch::kFloat);
  EXPECT_TRUE(torch::allclose(probs, expected, 1e-5, 1e-6));
  EXPECT_EQ(logits.argmax(1).eq(labels).sum().item<int64_t>(), p->correct);
}

TEST_F(ExportModelTest, WrongWidthAndBadStatesAreRefused) {
  data::Dataset narrow = Images(10, 3);
  narrow.feature_shape = {1, 2, 8};  // same width: fine
  EXPECT_TRUE(Predict(model_, narrow).ok());
  narrow.feature_shape = {15};
  narrow.byte_features.resize(150);
  auto refused = Predict(model_, narrow);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "examples have 15 features; the model expects 16");

  std::vector<uint8_t> damaged = state_;
  damaged[damaged.size() / 2] ^= 1;
  TrainedModel bad = model_;
  bad.state = damaged.data();
  EXPECT_EQ(ExportTorchScriptFile(bad, kScale, "{}").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(Predict(bad, Images(10, 3)).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cerebro::train

// The torchscript family end to end: units of a user's TorchScript model chain bitwise
// through their states, a template space trains through MOP on real Fashion-MNIST (a
// small subset) and resumes to the uninterrupted metrics, a file that does not fit fails
// its model alone before it trains, and the example's Python script writes files that
// train (with Debian's python3 and its torch, when present).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cerebro/driver/driver.h"
#include "cerebro/model/torchscript_family.h"
#include "cerebro/model/torchscript_family_test_nets.h"
#include "cerebro/train/trainer.h"
#include "run_helpers.h"
#include "test_data.h"

namespace cerebro {
namespace {

using model::testing::WriteMlp;
using testing::Options;
using testing::ReadJsonLines;
using testing::TempDir;
using Json = spec::Json;

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist/";

std::string GunzipOrEmpty(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

void PutBigEndian32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}

// The first `n` examples of Fashion-MNIST's training set as (uncompressed) IDX files in
// `dir`: images.idx and labels.idx. False when the data is not installed.
bool WriteFashionSubset(const std::string& dir, int n) {
  std::string images = GunzipOrEmpty(std::string(kFashionDir) + "train-images-idx3-ubyte.gz");
  std::string labels = GunzipOrEmpty(std::string(kFashionDir) + "train-labels-idx1-ubyte.gz");
  if (images.size() < 16 + 784u * n || labels.size() < 8u + n) return false;
  images.resize(16 + 784 * static_cast<size_t>(n));
  labels.resize(8 + static_cast<size_t>(n));
  PutBigEndian32(&images, 4, static_cast<uint32_t>(n));
  PutBigEndian32(&labels, 4, static_cast<uint32_t>(n));
  std::ofstream(dir + "/images.idx", std::ios::binary) << images;
  std::ofstream(dir + "/labels.idx", std::ios::binary) << labels;
  return true;
}

// The spec of the tests' runs, in `dir` next to its data: a grid over the files that
// `model_file` (relative to the spec) names.
std::string WriteSpec(const std::string& dir, const std::string& model_params, int epochs) {
  const std::string text = R"(
name: torchscript_e2e
data:
  format: idx
  train: {images: images.idx, labels: labels.idx}
  validation: {fraction: 0.2}
  feature_scale: 0.00392156862745098
params:
  model: torchscript
)" + model_params + R"(
  optimizer: adam
  lr: 0.01
  batch_size: 16
run:
  epochs: )" + std::to_string(epochs) +
                           R"(
  workers: 2
  order: fixed
  seed: 11
)";
  const std::string path = dir + "/spec.yaml";
  std::ofstream(path) << text;
  return path;
}

spec::ExperimentSpec ParseFileOrDie(const std::string& path) {
  auto s = spec::ParseSpecFile(path);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : spec::ExperimentSpec{};
}

std::vector<std::string> Metrics(const std::string& run_dir) {
  std::vector<std::string> rows;
  for (const auto& j : ReadJsonLines(run_dir + "/metrics.jsonl")) rows.push_back(j.dump());
  std::sort(rows.begin(), rows.end());
  return rows;
}

class TorchScriptRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!WriteFashionSubset(tmp_.path(), 400)) {
      GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionDir;
    }
    std::filesystem::create_directories(tmp_.Join("nets"));
    WriteMlp(tmp_.Join("nets/mlp_8.pt"), 784, 8, 10);
    WriteMlp(tmp_.Join("nets/mlp_16.pt"), 784, 16, 10);
  }
  TempDir tmp_;
};

// Two configurations over one template path train through MOP on two workers; the run,
// stopped after its fifth record and resumed, ends with the uninterrupted run's metrics.
TEST_F(TorchScriptRunTest, ATemplateSpaceTrainsThroughMopAndResumesBitwise) {
  const std::string spec_path =
      WriteSpec(tmp_.path(), "  model_file: nets/mlp_{width}.pt\n  width: {choice: [8, 16]}", 2);
  const spec::ExperimentSpec spec = ParseFileOrDie(spec_path);
  auto ref = driver::RunExperiment(spec, Options(tmp_.Join("reference")));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(ref->models.size(), 2u);
  for (const auto& m : ref->models) {
    EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    // The worker got the file's absolute path (its cwd is not the spec's directory).
    EXPECT_EQ(m.params["model_file"], tmp_.Join("nets/mlp_{width}.pt"));
  }
  testing::ExpectEveryUnitExactlyOnce(ref->run_dir, 2, 2, 2);
  const std::vector<std::string> reference = Metrics(ref->run_dir);
  ASSERT_EQ(reference.size(), 4u);  // 2 models x 2 epochs
  // Trained: better than chance (10 classes) after two epochs on 320 images.
  for (const auto& m : ref->models) {
    EXPECT_GT(m.history.back().val_accuracy, 0.3) << "model " << m.id;
  }

  // The run stops (as a crash would) once five units are journaled, then resumes.
  struct StopAfterFiveUnits final : driver::RunObserver {
    int units = 0;
    Status OnUnitDone(const driver::RunView&, const store::UnitDone&) override {
      return ++units >= 5 ? Aborted("stopped by the test") : Status::Ok();
    }
  } stop;
  driver::RunOptions options = Options(tmp_.Join("interrupted"));
  options.observers = {&stop};
  auto interrupted = driver::RunExperiment(spec, options);
  ASSERT_FALSE(interrupted.ok());
  auto resumed = driver::ResumeExperiment(tmp_.Join("interrupted"), Options(""));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(Metrics(tmp_.Join("interrupted")), reference);
  testing::ExpectEveryUnitExactlyOnce(tmp_.Join("interrupted"), 2, 2, 2);
}

// A file that is not TorchScript, a missing one and one whose output does not fit the
// data each fail their model with a one-line reason before it trains; the good one trains.
TEST_F(TorchScriptRunTest, AFileThatDoesNotFitFailsItsModelBeforeItTrains) {
  std::ofstream(tmp_.Join("nets/text.pt")) << "not a TorchScript archive\n";
  WriteMlp(tmp_.Join("nets/five.pt"), 784, 8, 5);
  const std::string spec_path = WriteSpec(
      tmp_.path(),
      "  model_file: {choice: [nets/mlp_8.pt, nets/text.pt, nets/missing.pt, nets/five.pt]}", 1);
  auto r = driver::RunExperiment(ParseFileOrDie(spec_path), Options(tmp_.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->models.size(), 4u);
  std::map<int, std::string> failures;
  for (const auto& m : r->models) {
    if (m.id == 0) {
      EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
      continue;
    }
    EXPECT_EQ(m.status, ModelStatus::kFailed);
    EXPECT_EQ(m.failure.find('\n'), std::string::npos) << m.failure;
    failures[m.id] = m.failure;
  }
  const std::string nets = tmp_.Join("nets/");
  EXPECT_NE(failures[1].find("params.model_file: " + nets + "text.pt is not a TorchScript file ("),
            std::string::npos)
      << failures[1];
  EXPECT_NE(failures[2].find("params.model_file: " + nets + "missing.pt: not found"),
            std::string::npos)
      << failures[2];
  EXPECT_NE(failures[3].find("params.model_file: " + nets +
                             "five.pt: forward maps an input of shape [2, 1, 28, 28] to [2, 5], "
                             "the data needs [2, 10]"),
            std::string::npos)
      << failures[3];
  // Journaled as the model's failure (invalid config), with no unit of it completed.
  int failed_records = 0;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) {
    if (j["type"] == "unit") EXPECT_EQ(j["model"], 0) << j.dump();
    if (j["type"] == "model_failed") {
      ++failed_records;
      EXPECT_EQ(j["cause"], "invalid_config") << j.dump();
    }
  }
  EXPECT_EQ(failed_records, 3);
}

// ---- the trainer on a torchscript model ------------------------------------------------

data::Dataset Blobs(int n, uint64_t seed) {
  data::Dataset d;
  d.task = data::Task::kClassification;
  d.feature_shape = {12};
  d.num_classes = 3;
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  for (int i = 0; i < n; ++i) {
    const int label = i % 3;
    for (int f = 0; f < 12; ++f) d.features.push_back((f % 3 == label ? 2.0f : 0.0f) + noise(gen));
    d.int_labels.push_back(label);
  }
  return d;
}

std::vector<uint8_t> Bytes(const train::UnitResult& r) {
  return std::vector<uint8_t>(r.state.data(), r.state.data() + r.state.size());
}

// Weights, the buffer the script updates and Adam's moments all travel in the state: three
// units chained through their state bytes equal one session running the three, bitwise.
// A fresh model is the file's own weights, whatever the init seed.
TEST(TorchScriptTrainerTest, UnitsChainBitwiseThroughTheirStates) {
  TempDir tmp;
  WriteMlp(tmp.Join("mlp_8.pt"), 12, 8, 3);
  train::Trainer t;
  ASSERT_TRUE(t.SetPartition(train::PartitionKind::kTrain, Blobs(96, 1)).ok());
  ASSERT_TRUE(t.SetPartition(train::PartitionKind::kVal, Blobs(60, 2)).ok());
  const std::string config = R"({"model":"torchscript","model_file":")" +
                             tmp.Join("mlp_{width}.pt") +
                             R"(","width":8,"optimizer":"adam","lr":0.01,"batch_size":16})";
  std::vector<train::UnitRequest> requests;
  for (uint64_t unit = 0; unit < 3; ++unit) requests.push_back({config, true, 5, 100 + unit});
  auto together = t.RunUnits(requests);
  ASSERT_TRUE(together.ok()) << together.status().ToString();

  std::vector<uint8_t> state;
  for (size_t i = 0; i < requests.size(); ++i) {
    train::UnitRequest r = requests[i];
    r.init_seed = 5 + 1000 * i;  // ignored: the file's weights start the model
    r.state = state.data();
    r.state_size = state.size();
    auto one = t.RunUnit(r);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    EXPECT_EQ(one->loss_sum, (*together)[i].loss_sum) << "unit " << i;
    state = Bytes(*one);
  }
  EXPECT_EQ(state, Bytes(together->back()));

  auto eval = t.RunUnit({config, false, 0, 0, state.data(), state.size()});
  ASSERT_TRUE(eval.ok()) << eval.status().ToString();
  EXPECT_GE(eval->correct, 50);  // of 60: the script trained
}

// ---- the example's script --------------------------------------------------------------

// examples/torchscript/make_nets.py, run with the Python that has torch (CMake defines
// CEREBRO_TORCH_PYTHON when /usr/bin/python3 imports torch), writes files this build loads
// and trains.
TEST(TorchScriptExampleTest, TheExamplesPythonScriptWritesFilesThatTrain) {
#ifndef CEREBRO_TORCH_PYTHON
  GTEST_SKIP() << "no Python with torch";
#else
  TempDir tmp;
  const std::string command = std::string(CEREBRO_TORCH_PYTHON) + " " + CEREBRO_SOURCE_DIR +
                              "/examples/torchscript/make_nets.py --out " + tmp.path() +
                              " > " + tmp.Join("log") + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << testing::ReadFileOrEmpty(tmp.Join("log"));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path() + "/nets")) {
    ++files;
    auto net = model::LoadTorchScriptNet(e.path().string(), model::InputSpec{{1, 28, 28}, 10});
    ASSERT_TRUE(net.ok()) << net.status().ToString();
  }
  EXPECT_GE(files, 2);
  data::Dataset images;
  images.task = data::Task::kClassification;
  images.feature_shape = {1, 28, 28};
  images.num_classes = 10;
  for (int i = 0; i < 40; ++i) {
    for (int p = 0; p < 784; ++p) images.features.push_back(p % 10 == i % 10 ? 1.0f : 0.0f);
    images.int_labels.push_back(i % 10);
  }
  train::Trainer t;
  ASSERT_TRUE(t.SetPartition(train::PartitionKind::kTrain, images).ok());
  for (const auto& e : std::filesystem::directory_iterator(tmp.path() + "/nets")) {
    const std::string config =
        R"({"model":"torchscript","model_file":")" + e.path().string() + R"(","batch_size":8})";
    auto unit = t.RunUnit({config, true, 0, 1});
    ASSERT_TRUE(unit.ok()) << e.path() << ": " << unit.status().ToString();
    EXPECT_GT(unit->state.size(), 0u);
  }
#endif
}

}  // namespace
}  // namespace cerebro

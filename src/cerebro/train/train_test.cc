// Tests of the trainer, almost all through the C API that backends use (worker_api.h).
// Partitions are written with the data module's own Prepare (from a generated CSV), so
// these tests also pin the contract between data/ and train/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "cerebro/common/rng.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/blas.h"
#include "cerebro/train/optimizer_state.h"
#include "cerebro/train/process.h"
#include "cerebro/train/state_codec.h"
#include "cerebro/train/state_header.h"
#include "cerebro/train/trainer.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::train {
namespace {

namespace fs = std::filesystem;

constexpr int kFeatures = 16;
constexpr int kClasses = 4;

// Four Gaussian blobs (one per class) in 16 dimensions: linearly separable with high
// probability, so a small MLP must reach high accuracy in a few passes.
std::vector<std::vector<float>> BlobCenters() {
  std::mt19937_64 gen(123);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<std::vector<float>> centers(kClasses, std::vector<float>(kFeatures));
  for (auto& c : centers)
    for (auto& v : c) v = u(gen);
  return centers;
}

void WriteBlobCsv(const std::string& path, int n, uint64_t seed) {
  auto centers = BlobCenters();
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.7f);
  std::ofstream out(path);
  for (int j = 0; j < kFeatures; ++j) out << "f" << j << ",";
  out << "label\n";
  for (int i = 0; i < n; ++i) {
    int label = i % kClasses;
    for (int j = 0; j < kFeatures; ++j) out << centers[label][j] + noise(gen) << ",";
    out << label << "\n";
  }
}

// A store with 2 train partitions (1000 examples each) and 1 val partition (500).
class WorkerApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("cerebro_train_test_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    WriteBlobCsv((root_ / "train.csv").string(), 2000, 1);
    WriteBlobCsv((root_ / "val.csv").string(), 500, 2);
    data::SourceSpec source;
    source.format = "csv";
    source.train_path = (root_ / "train.csv").string();
    source.val_path = (root_ / "val.csv").string();
    data::PrepareOptions options;
    options.num_train_partitions = 2;
    options.num_val_partitions = 1;
    options.seed = 7;
    store_ = (root_ / "store").string();
    Status st = data::Prepare(source, options, store_);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static fs::path root_;
  static std::string store_;
};
fs::path WorkerApiTest::root_;
std::string WorkerApiTest::store_;

// RAII over the C handle, with the partitions of a test store loaded.
class Worker {
 public:
  Worker() {
    char warning[512], err[512];
    rc_ = cerebro_worker_create(1, &w_, warning, sizeof warning, err, sizeof err);
    warning_ = warning;
  }
  ~Worker() { cerebro_worker_destroy(w_); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int Load(const std::string& store, const char* kind, int index) {
    char err[512];
    int rc = cerebro_worker_load_partition(w_, store.c_str(), kind, index, err, sizeof err);
    last_error = err;
    return rc;
  }
  CerebroWorker* get() { return w_; }
  int create_rc() const { return rc_; }
  const std::string& warning() const { return warning_; }
  std::string last_error;

 private:
  CerebroWorker* w_ = nullptr;
  int rc_ = -1;
  std::string warning_;
};

struct Unit {
  int rc = -1;
  std::string error;
  CerebroUnitResult result{};
  std::vector<uint8_t> state;
  double mean_loss() const { return result.loss_sum / result.num_examples; }
  double accuracy() const { return result.correct / result.num_examples; }
};

Unit RunUnitOn(Worker& w, const std::string& config, bool train, uint64_t init_seed,
               uint64_t unit_seed, const std::vector<uint8_t>& state = {}) {
  CerebroUnitRequest req{};
  req.model_config_json = config.c_str();
  req.train = train ? 1 : 0;
  req.init_seed = init_seed;
  req.unit_seed = unit_seed;
  req.state = state.empty() ? nullptr : state.data();
  req.state_size = state.size();
  Unit u;
  char err[1024];
  u.rc = cerebro_worker_run_unit(w.get(), &req, &u.result, err, sizeof err);
  u.error = err;
  if (u.result.state != nullptr) {
    u.state.assign(u.result.state, u.result.state + u.result.state_size);
    cerebro_buffer_free(u.result.state);
    u.result.state = nullptr;
  }
  return u;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

const char kMlp[] = R"({"model":"mlp","hidden":[32],"activation":"relu","dropout":0.1,)"
                    R"("optimizer":"adam","lr":0.01,"batch_size":32})";

TEST_F(WorkerApiTest, CreateRejectsZeroThreads) {
  CerebroWorker* w = nullptr;
  char warning[64], err[128];
  EXPECT_EQ(cerebro_worker_create(0, &w, warning, sizeof warning, err, sizeof err),
            CEREBRO_ERR_INVALID);
  EXPECT_EQ(w, nullptr);
  EXPECT_NE(std::string(err).find("intra_op_threads"), std::string::npos);
}

TEST_F(WorkerApiTest, CreateWarnsOnlyAboutBlas) {
  Worker w;
  ASSERT_EQ(w.create_rc(), CEREBRO_OK);
  // Whether there is a warning depends on the machine (reference BLAS, or OpenBLAS
  // without kernels for this CPU); if there is one, it is about BLAS and one line.
  if (!w.warning().empty()) {
    EXPECT_NE(w.warning().find("BLAS"), std::string::npos) << w.warning();
    EXPECT_EQ(w.warning().find('\n'), std::string::npos);
  }
  EXPECT_EQ(BlasWarning().substr(0, 511), w.warning());
}

TEST_F(WorkerApiTest, ValidateModelConfigNamesTheFieldAndTruncates) {
  char err[256];
  EXPECT_EQ(cerebro_validate_model_config(kMlp, err, sizeof err), CEREBRO_OK);
  EXPECT_STREQ(err, "");
  EXPECT_EQ(cerebro_validate_model_config(R"({"model":"mlp","hidden":[0]})", err, sizeof err),
            CEREBRO_ERR_INVALID);
  EXPECT_STREQ(err, "params.hidden: expected a list of positive integers");
  EXPECT_EQ(cerebro_validate_model_config(R"({"model":"cnn","batch_size":-3})", err, sizeof err),
            CEREBRO_ERR_INVALID);
  EXPECT_STREQ(err, "params.batch_size: expected an integer >= 1");
  char small[8];
  EXPECT_EQ(cerebro_validate_model_config("{", small, sizeof small), CEREBRO_ERR_INVALID);
  EXPECT_STREQ(small, "model c");  // err_cap - 1 characters, NUL-terminated
  EXPECT_EQ(cerebro_validate_model_config(nullptr, err, sizeof err), CEREBRO_ERR_INVALID);
  EXPECT_EQ(cerebro_validate_model_config("{", nullptr, 0), CEREBRO_ERR_INVALID);
}

TEST(WorkerApiNumParametersTest, CountsTheNetsTrainableParametersForTheDataShape) {
  const int64_t shape[] = {kFeatures};
  int64_t n = -1;
  char err[256] = {0};
  ASSERT_EQ(cerebro_model_num_parameters(kMlp, shape, 1, kClasses, &n, err, sizeof err),
            CEREBRO_OK)
      << err;
  EXPECT_EQ(n, (kFeatures * 32 + 32) + (32 * kClasses + kClasses));  // two Linear layers
  EXPECT_EQ(cerebro_model_num_parameters(R"({"model":"mlp","hidden":[0]})", shape, 1, kClasses,
                                         &n, err, sizeof err),
            CEREBRO_ERR_INVALID);
  EXPECT_STREQ(err, "params.hidden: expected a list of positive integers");
  EXPECT_EQ(cerebro_model_num_parameters(kMlp, shape, 0, kClasses, &n, err, sizeof err),
            CEREBRO_ERR_INVALID);
}

TEST_F(WorkerApiTest, LoadPartitionErrors) {
  Worker w;
  EXPECT_EQ(w.Load((root_ / "missing").string(), "train", 0), CEREBRO_ERR_DATA);
  EXPECT_FALSE(w.last_error.empty());
  EXPECT_EQ(w.Load(store_, "test", 0), CEREBRO_ERR_INVALID);
  EXPECT_EQ(w.Load(store_, "train", 5), CEREBRO_ERR_DATA);
  EXPECT_EQ(w.Load(store_, "train", 1), CEREBRO_OK);
  EXPECT_EQ(w.Load(store_, "val", 0), CEREBRO_OK);
}

TEST_F(WorkerApiTest, RunUnitWithoutPartitionIsDataError) {
  Worker w;
  Unit u = RunUnitOn(w, kMlp, true, 1, 2);
  EXPECT_EQ(u.rc, CEREBRO_ERR_DATA);
  EXPECT_EQ(u.error, "no train partition loaded");
  EXPECT_TRUE(u.state.empty());
}

TEST_F(WorkerApiTest, ConfigThatCannotRunIsInvalid) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  Unit bad = RunUnitOn(w, R"({"model":"mlp","dropout":2})", true, 1, 2);
  EXPECT_EQ(bad.rc, CEREBRO_ERR_INVALID);
  EXPECT_EQ(bad.error, "params.dropout: expected a number in [0, 1)");
  // A CNN needs image-shaped features; the CSV store has {16}.
  EXPECT_EQ(RunUnitOn(w, R"({"model":"cnn"})", true, 1, 2).rc, CEREBRO_ERR_INVALID);
  Unit mse = RunUnitOn(w, R"({"model":"mlp","loss":"mse"})", true, 1, 2);
  EXPECT_EQ(mse.rc, CEREBRO_ERR_INVALID);
  EXPECT_EQ(mse.error, "params.loss: mse needs a regression task");
}

// MOP in miniature: one model hops between two workers, each holding one partition.
TEST_F(WorkerApiTest, MlpLearnsSeparableDataWhileHopping) {
  Worker w0, w1;
  ASSERT_EQ(w0.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(w1.Load(store_, "train", 1), CEREBRO_OK);
  ASSERT_EQ(w0.Load(store_, "val", 0), CEREBRO_OK);
  std::vector<uint8_t> state;
  std::vector<double> train_losses;
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (Worker* w : {&w0, &w1}) {
      Unit u = RunUnitOn(*w, kMlp, true, 42, 100 * epoch + (w == &w1), state);
      ASSERT_EQ(u.rc, CEREBRO_OK) << u.error;
      EXPECT_EQ(u.result.num_examples, 1000);
      EXPECT_GE(u.result.compute_seconds, 0.0);
      EXPECT_GE(u.result.state_seconds, 0.0);
      train_losses.push_back(u.mean_loss());
      state = u.state;
    }
  }
  EXPECT_LT(train_losses.back(), train_losses.front());
  Unit eval = RunUnitOn(w0, kMlp, false, 42, 0, state);
  ASSERT_EQ(eval.rc, CEREBRO_OK) << eval.error;
  EXPECT_EQ(eval.result.num_examples, 500);
  EXPECT_EQ(eval.result.state, nullptr);
  EXPECT_EQ(eval.result.state_size, 0u);
  EXPECT_GE(eval.accuracy(), 0.95);
  EXPECT_LT(eval.mean_loss(), 0.3);
}

TEST_F(WorkerApiTest, SameSeedsGiveBitwiseIdenticalResults) {
  Worker a, b;
  ASSERT_EQ(a.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(b.Load(store_, "train", 0), CEREBRO_OK);
  Unit ua = RunUnitOn(a, kMlp, true, 5, 9);
  Unit ub = RunUnitOn(b, kMlp, true, 5, 9);
  ASSERT_EQ(ua.rc, CEREBRO_OK) << ua.error;
  ASSERT_EQ(ub.rc, CEREBRO_OK) << ub.error;
  EXPECT_TRUE(SameBits(ua.result.loss_sum, ub.result.loss_sum));
  EXPECT_TRUE(SameBits(ua.result.correct, ub.result.correct));
  EXPECT_EQ(ua.state, ub.state);
  // The same worker again, after other work: still identical (no hidden state).
  ASSERT_EQ(RunUnitOn(a, kMlp, true, 6, 6).rc, CEREBRO_OK);
  Unit ua2 = RunUnitOn(a, kMlp, true, 5, 9);
  EXPECT_EQ(ua2.state, ua.state);
  // Another unit seed (order and dropout) or init seed changes the outcome.
  EXPECT_NE(RunUnitOn(a, kMlp, true, 5, 10).state, ua.state);
  EXPECT_NE(RunUnitOn(a, kMlp, true, 4, 9).state, ua.state);
}

// The data-parallel baseline's model averaging: the mean of identical states is that
// state (bit for bit), and the mean of two different ones is a usable third model.
// The tensors a state of `config_json` holds, decoded on their own: every parameter, then
// every optimizer state slot of each parameter (step counts are not tensors).
std::vector<torch::Tensor> StateTensorsOf(const char* config_json,
                                          const std::vector<uint8_t>& state) {
  std::vector<torch::Tensor> out;
  auto config = model::ParseModelConfig(config_json);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  if (!config.ok()) return out;
  auto net = model::BuildNet(*config, model::InputSpec{{kFeatures}, kClasses});
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  if (!net.ok()) return out;
  auto optimizer = MakeOptimizer(*config, net->module->parameters());
  Status decoded =
      DecodeState(state.data(), state.size(), *net, optimizer.get(), config->optimizer);
  EXPECT_TRUE(decoded.ok()) << decoded.ToString();
  const auto params = net->module->parameters();
  for (const auto& p : params) out.push_back(p.detach().clone());
  for (size_t i = 0; i < params.size(); ++i) {
    for (const auto& t : StateTensors(*optimizer, config->optimizer, i)) out.push_back(t.clone());
  }
  return out;
}

TEST_F(WorkerApiTest, AverageStatesIsAnElementwiseMeanOfUsableStates) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(w.Load(store_, "val", 0), CEREBRO_OK);
  Unit a = RunUnitOn(w, kMlp, true, 5, 1);
  Unit b = RunUnitOn(w, kMlp, true, 5, 2);
  ASSERT_EQ(a.rc, CEREBRO_OK) << a.error;
  ASSERT_EQ(b.rc, CEREBRO_OK) << b.error;
  const int64_t shape[] = {kFeatures};
  auto average = [&](const std::vector<const Unit*>& units, std::vector<uint8_t>* out) {
    std::vector<const uint8_t*> ptrs;
    std::vector<size_t> sizes;
    for (const Unit* u : units) {
      ptrs.push_back(u->state.data());
      sizes.push_back(u->state.size());
    }
    uint8_t* state = nullptr;
    size_t size = 0;
    char err[512] = {0};
    int rc = cerebro_average_states(kMlp, shape, 1, kClasses, ptrs.data(), sizes.data(),
                                    static_cast<int>(units.size()), &state, &size, err, sizeof err);
    if (rc == CEREBRO_OK) out->assign(state, state + size);
    cerebro_buffer_free(state);
    return rc;
  };
  std::vector<uint8_t> same, mixed;
  ASSERT_EQ(average({&a, &a}, &same), CEREBRO_OK);
  EXPECT_EQ(same, a.state);
  ASSERT_EQ(average({&a, &b}, &mixed), CEREBRO_OK);
  EXPECT_NE(mixed, a.state);
  EXPECT_NE(mixed, b.state);
  // Numerically: every weight and every Adam moment of the average of three states is
  // the mean of the three, computed here in double from the states decoded one by one.
  Unit c = RunUnitOn(w, kMlp, true, 5, 3);
  ASSERT_EQ(c.rc, CEREBRO_OK) << c.error;
  std::vector<uint8_t> three;
  ASSERT_EQ(average({&a, &b, &c}, &three), CEREBRO_OK);
  const std::vector<torch::Tensor> ta = StateTensorsOf(kMlp, a.state);
  const std::vector<torch::Tensor> tb = StateTensorsOf(kMlp, b.state);
  const std::vector<torch::Tensor> tc = StateTensorsOf(kMlp, c.state);
  const std::vector<torch::Tensor> got = StateTensorsOf(kMlp, three);
  ASSERT_EQ(got.size(), ta.size());
  ASSERT_EQ(tb.size(), ta.size());
  ASSERT_EQ(tc.size(), ta.size());
  ASSERT_EQ(ta.size(), 12u);  // two linear layers: 4 parameters, each with Adam's 2 moments
  for (size_t i = 0; i < ta.size(); ++i) {
    SCOPED_TRACE("tensor " + std::to_string(i));
    const torch::Tensor mean =
        (ta[i].to(torch::kDouble) + tb[i].to(torch::kDouble) + tc[i].to(torch::kDouble)) / 3.0;
    ASSERT_EQ(got[i].sizes(), mean.sizes());
    const double scale = mean.abs().max().item<double>() + 1e-30;
    const double worst = (got[i].to(torch::kDouble) - mean).abs().max().item<double>();
    EXPECT_LE(worst, 1e-6 * scale) << "max |average - mean| " << worst << ", max |mean| " << scale;
    // ...and the three really differ here, so the check could fail.
    EXPECT_GT((ta[i] - tb[i]).abs().max().item<double>(), 0.0);
  }
  Unit eval = RunUnitOn(w, kMlp, false, 5, 0, mixed);
  ASSERT_EQ(eval.rc, CEREBRO_OK) << eval.error;
  EXPECT_GT(eval.accuracy(), 0.5);
  // A corrupt state is refused, not averaged.
  std::vector<uint8_t> bad = a.state;
  bad[bad.size() / 2] ^= 0xff;
  Unit corrupt{};
  corrupt.state = bad;
  std::vector<uint8_t> ignored;
  EXPECT_EQ(average({&a, &corrupt}, &ignored), CEREBRO_ERR_STATE);
}

// Restoring a state must restore everything that the next unit depends on: weights,
// Adam's moments and step count, SGD's momentum buffers. Continuing in one process
// without serializing (Trainer::RunUnits) is the reference.
TEST_F(WorkerApiTest, RestoredStateContinuesBitwiseLikeInProcess) {
  for (const char* config :
       {R"({"model":"mlp","hidden":[24],"optimizer":"adam","lr":0.003,"weight_decay":1e-4})",
        R"({"model":"mlp","hidden":[24],"optimizer":"adamw","lr":0.003,"weight_decay":0.01})",
        R"({"model":"mlp","hidden":[24],"optimizer":"sgd","lr":0.05,"momentum":0.9})"}) {
    SCOPED_TRACE(config);
    Trainer in_process;
    ASSERT_TRUE(in_process.LoadPartition(store_, PartitionKind::kTrain, 0).ok());
    UnitRequest r1{config, true, 11, 21, nullptr, 0};
    UnitRequest r2{config, true, 11, 22, nullptr, 0};
    UnitRequest r3{config, true, 11, 23, nullptr, 0};
    auto chained = in_process.RunUnits({r1, r2, r3});
    ASSERT_TRUE(chained.ok()) << chained.status().ToString();

    Worker first;
    ASSERT_EQ(first.Load(store_, "train", 0), CEREBRO_OK);
    Unit u1 = RunUnitOn(first, config, true, 11, 21);
    ASSERT_EQ(u1.rc, CEREBRO_OK) << u1.error;
    EXPECT_TRUE(SameBits(u1.result.loss_sum, (*chained)[0].loss_sum));
    Worker second;  // a fresh worker: nothing but the bytes carries over
    ASSERT_EQ(second.Load(store_, "train", 0), CEREBRO_OK);
    Unit u2 = RunUnitOn(second, config, true, 999, 22, u1.state);  // init_seed ignored with state
    ASSERT_EQ(u2.rc, CEREBRO_OK) << u2.error;
    Unit u3 = RunUnitOn(first, config, true, 11, 23, u2.state);
    ASSERT_EQ(u3.rc, CEREBRO_OK) << u3.error;
    EXPECT_TRUE(SameBits(u2.result.loss_sum, (*chained)[1].loss_sum));
    EXPECT_TRUE(SameBits(u3.result.loss_sum, (*chained)[2].loss_sum));
    EXPECT_TRUE(SameBits(u3.result.correct, (*chained)[2].correct));
    const MallocBuffer& final_state = (*chained)[2].state;
    ASSERT_EQ(u3.state.size(), final_state.size());
    EXPECT_EQ(std::memcmp(u3.state.data(), final_state.data(), final_state.size()), 0);
  }
}

TEST_F(WorkerApiTest, StateHoldsOptimizerMoments) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  // 16*256+256 + 256*4+4 = 5380 float parameters.
  const std::string adam = R"({"model":"mlp","hidden":[256],"optimizer":"adam"})";
  const std::string sgd = R"({"model":"mlp","hidden":[256],"optimizer":"sgd"})";
  Unit ua = RunUnitOn(w, adam, true, 1, 1), us = RunUnitOn(w, sgd, true, 1, 1);
  ASSERT_EQ(ua.rc, CEREBRO_OK);
  ASSERT_EQ(us.rc, CEREBRO_OK);
  const size_t param_bytes = 5380 * 4;
  EXPECT_GE(us.state.size(), param_bytes);
  EXPECT_GE(ua.state.size(), 3 * param_bytes);  // weights + two moments each
}

// A search (e.g. PBT) may change hyperparameters between units of one model: the state
// holds no hyperparameters and its layout does not depend on them.
TEST_F(WorkerApiTest, StateSurvivesHyperparameterChanges) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  Unit first = RunUnitOn(w, R"({"model":"mlp","hidden":[16],"dropout":0.0,"lr":0.01})", true, 1, 1);
  ASSERT_EQ(first.rc, CEREBRO_OK) << first.error;
  for (const char* next : {R"({"model":"mlp","hidden":[16],"dropout":0.3,"lr":0.001})",
                           R"({"model":"mlp","hidden":[16],"optimizer":"sgd","momentum":0.5})",
                           R"({"model":"mlp","hidden":[16],"batch_size":7,"weight_decay":0.1})"}) {
    Unit u = RunUnitOn(w, next, true, 1, 2, first.state);
    EXPECT_EQ(u.rc, CEREBRO_OK) << next << ": " << u.error;
  }
}

TEST_F(WorkerApiTest, EvalReturnsExampleWeightedMetrics) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(w.Load(store_, "val", 0), CEREBRO_OK);
  Unit trained = RunUnitOn(w, kMlp, true, 3, 3);
  ASSERT_EQ(trained.rc, CEREBRO_OK);
  Unit eval = RunUnitOn(w, kMlp, false, 0, 0, trained.state);
  ASSERT_EQ(eval.rc, CEREBRO_OK) << eval.error;
  EXPECT_EQ(eval.result.num_examples, 500);
  EXPECT_GT(eval.result.loss_sum, 0.0);
  // Evaluation is deterministic (dropout off) and independent of unit_seed.
  Unit again = RunUnitOn(w, kMlp, false, 0, 77, trained.state);
  EXPECT_TRUE(SameBits(again.result.loss_sum, eval.result.loss_sum));
  EXPECT_EQ(again.result.correct, eval.result.correct);

  // A training pass with a negligible step reports the same per-example loss as the
  // evaluation of its starting weights, although its last batch is partial (1000 = 7 *
  // 128 + 104): loss_sum is weighted by batch size, not averaged over batches.
  const std::string tiny =
      R"({"model":"mlp","hidden":[8],"optimizer":"sgd","lr":1e-12,"batch_size":128})";
  Unit fresh_train = RunUnitOn(w, tiny, true, 8, 8);
  ASSERT_EQ(fresh_train.rc, CEREBRO_OK);
  // Evaluate the same starting weights on the same examples (the train partition,
  // handed to a Trainer as its val partition).
  Trainer t;
  auto train_data = data::LoadPartition(store_, "train", 0);
  ASSERT_TRUE(train_data.ok());
  ASSERT_TRUE(t.SetPartition(PartitionKind::kVal, std::move(train_data).value()).ok());
  auto fresh_eval = t.RunUnit(UnitRequest{tiny, false, 8, 0, nullptr, 0});
  ASSERT_TRUE(fresh_eval.ok()) << fresh_eval.status().ToString();
  EXPECT_EQ(fresh_eval->num_examples, 1000);
  EXPECT_NEAR(fresh_train.result.loss_sum, fresh_eval->loss_sum, 1e-3 * fresh_eval->loss_sum);
  EXPECT_EQ(fresh_train.result.correct, fresh_eval->correct);
}

TEST_F(WorkerApiTest, NonFiniteLossIsNonFiniteError) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  Unit u = RunUnitOn(w, R"({"model":"mlp","hidden":[32],"optimizer":"sgd","lr":1e30})", true, 1, 1);
  EXPECT_EQ(u.rc, CEREBRO_ERR_NON_FINITE);
  EXPECT_EQ(u.error.rfind("non-finite loss at batch ", 0), 0u) << u.error;
  EXPECT_EQ(u.result.state, nullptr);
  EXPECT_TRUE(u.state.empty());
}

// A family whose forward pass runs out of memory: "torch" asks torch's CPU allocator for
// 4 PiB (it fails at once, before anything is touched), "std" throws std::bad_alloc as
// the standard library does.
void RegisterOutOfMemoryFamily() {
  static const Status registered = model::RegisterFamily(
      "test_out_of_memory",
      [](const model::Params& p, const model::InputSpec& input) -> StatusOr<model::Net> {
        ASSIGN_OR_RETURN(std::string how, p.GetString("how", "torch"));
        torch::nn::Linear linear(input.feature_shape[0], input.output_size);
        return model::Net{linear.ptr(), [linear, how](const torch::Tensor& x) mutable {
                            if (how == "std") throw std::bad_alloc();
                            return linear->forward(x) +
                                   torch::empty({int64_t{1} << 50}, torch::kFloat).sum();
                          }};
      },
      {"how"});
  ASSERT_TRUE(registered.ok()) << registered.ToString();
}

TEST_F(WorkerApiTest, OutOfMemoryIsItsOwnError) {
  RegisterOutOfMemoryFamily();
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(w.Load(store_, "val", 0), CEREBRO_OK);
  for (const char* how : {"torch", "std"}) {
    const std::string config =
        std::string(R"({"model":"test_out_of_memory","how":")") + how + "\"}";
    for (bool train : {true, false}) {
      SCOPED_TRACE(config + (train ? " train" : " eval"));
      Unit u = RunUnitOn(w, config, train, 1, 1);
      EXPECT_EQ(u.rc, CEREBRO_ERR_OUT_OF_MEMORY) << u.error;
      EXPECT_TRUE(u.state.empty());
    }
  }
  // The worker is fine afterwards.
  EXPECT_EQ(RunUnitOn(w, kMlp, true, 1, 1).rc, CEREBRO_OK);
}

TEST_F(WorkerApiTest, CorruptStateIsStateError) {
  Worker w;
  ASSERT_EQ(w.Load(store_, "train", 0), CEREBRO_OK);
  ASSERT_EQ(w.Load(store_, "val", 0), CEREBRO_OK);
  Unit good = RunUnitOn(w, kMlp, true, 1, 1);
  ASSERT_EQ(good.rc, CEREBRO_OK);

  std::vector<uint8_t> garbage(1000, 0xAB);
  Unit u = RunUnitOn(w, kMlp, true, 1, 1, garbage);
  EXPECT_EQ(u.rc, CEREBRO_ERR_STATE);
  EXPECT_EQ(u.error, "model state: not a Cerebro model state (bad header)");

  std::vector<uint8_t> truncated(good.state.begin(), good.state.begin() + good.state.size() / 2);
  EXPECT_EQ(RunUnitOn(w, kMlp, true, 1, 1, truncated).rc, CEREBRO_ERR_STATE);
  EXPECT_EQ(RunUnitOn(w, kMlp, false, 1, 1, truncated).rc, CEREBRO_ERR_STATE);

  std::vector<uint8_t> flipped = good.state;
  for (size_t i = flipped.size() / 3; i < flipped.size() / 3 + 64; ++i) flipped[i] ^= 0x5A;
  Unit f = RunUnitOn(w, kMlp, true, 1, 1, flipped);
  EXPECT_EQ(f.rc, CEREBRO_ERR_STATE) << f.error;
  EXPECT_EQ(f.error, "model state: checksum mismatch (corrupt or truncated)");
  std::vector<uint8_t> one_bit = good.state;
  one_bit[one_bit.size() - 1000] ^= 1;  // a single bit near the end
  EXPECT_EQ(RunUnitOn(w, kMlp, false, 1, 1, one_bit).rc, CEREBRO_ERR_STATE);

  // A valid state of another architecture.
  Unit other = RunUnitOn(w, R"({"model":"mlp","hidden":[7]})", true, 1, 1);
  ASSERT_EQ(other.rc, CEREBRO_OK);
  Unit mismatch = RunUnitOn(w, kMlp, true, 1, 1, other.state);
  EXPECT_EQ(mismatch.rc, CEREBRO_ERR_STATE);
  EXPECT_NE(mismatch.error.find("shape"), std::string::npos) << mismatch.error;
}

// ---- states written before train/ was split (testdata/state_v1_*.bin) ------------------
//
// Written by trainer.cc as of commit abb9c0d (before the split): two train units (init_seed
// 3, unit seeds 30 and 31) of each config below on partition 0 of WorkerApiTest's store.
// A state must keep loading across releases, and a state that decodes completely
// re-encodes to the same bytes, which compares every weight, moment and step count.

struct GoldenState {
  const char* file;
  const char* config;
};
const GoldenState kGoldenStates[] = {
    {"state_v1_adam.bin",
     R"({"model":"mlp","hidden":[4],"optimizer":"adam","lr":0.01,"weight_decay":1e-4})"},
    {"state_v1_adamw.bin",
     R"({"model":"mlp","hidden":[4],"optimizer":"adamw","lr":0.01,"weight_decay":0.01})"},
    {"state_v1_sgd_momentum.bin",
     R"({"model":"mlp","hidden":[4],"optimizer":"sgd","lr":0.05,"momentum":0.9})"},
    // Plain SGD keeps no per-parameter state: every has_state entry is 0.
    {"state_v1_sgd.bin", R"({"model":"mlp","hidden":[4],"optimizer":"sgd","lr":0.05})"},
};

std::vector<uint8_t> ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(CEREBRO_TRAIN_TESTDATA) + "/" + name, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(StateFormatTest, HeaderChecksumIsHash64OfTheArchive) {
  for (const GoldenState& golden : kGoldenStates) {
    SCOPED_TRACE(golden.file);
    const std::vector<uint8_t> state = ReadTestdata(golden.file);
    ASSERT_GT(state.size(), kStateHeaderSize);
    EXPECT_EQ(std::memcmp(state.data(), "CRBSTAT1", 8), 0);
    uint64_t stored = 0;
    for (int b = 0; b < 8; ++b) stored |= static_cast<uint64_t>(state[8 + b]) << (8 * b);
    EXPECT_EQ(stored, Hash64(state.data() + kStateHeaderSize, state.size() - kStateHeaderSize));
    EXPECT_TRUE(CheckStateHeader(state.data(), state.size()).ok());
  }
}

// Bytes verified whole elsewhere (a state file against the journal's hash) skip the
// checksum pass: a flipped body byte then passes here (the journal's check is what
// catches it), a wrong magic still does not.
TEST(StateFormatTest, WithoutTheChecksumOnlyTheMagicIsChecked) {
  std::vector<uint8_t> state = ReadTestdata(kGoldenStates[0].file);
  state.back() ^= 1;
  EXPECT_FALSE(CheckStateHeader(state.data(), state.size()).ok());
  EXPECT_TRUE(CheckStateHeader(state.data(), state.size(), /*checksum=*/false).ok());
  state[0] = 'X';
  EXPECT_FALSE(CheckStateHeader(state.data(), state.size(), /*checksum=*/false).ok());
}

TEST(StateFormatTest, StatesWrittenBeforeTheSplitDecodeAndReencodeBitwise) {
  for (const GoldenState& golden : kGoldenStates) {
    SCOPED_TRACE(golden.file);
    const std::vector<uint8_t> state = ReadTestdata(golden.file);
    ASSERT_FALSE(state.empty());
    auto config = model::ParseModelConfig(golden.config);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto net = model::BuildNet(*config, model::InputSpec{{kFeatures}, kClasses});
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    auto optimizer = MakeOptimizer(*config, net->module->parameters());
    Status decoded =
        DecodeState(state.data(), state.size(), *net, optimizer.get(), config->optimizer);
    ASSERT_TRUE(decoded.ok()) << decoded.ToString();
    const bool keeps_state = config->optimizer != model::OptimizerKind::kSgd || config->momentum;
    EXPECT_EQ(StateTensors(*optimizer, config->optimizer, 0).empty(), !keeps_state);
    MallocBuffer again = EncodeState(*net, *optimizer, config->optimizer);
    ASSERT_EQ(again.size(), state.size());
    EXPECT_EQ(std::memcmp(again.data(), state.data(), state.size()), 0);
  }
}

// The example order of a training pass: ShuffledRange (common/rng.h) seeded with
// DeriveSeed(unit_seed, "unit_order"). Pinned with the orders the trainer's own shuffle
// gave before it moved to common/ (its rejection rule differed, which changes an order
// only with probability ~n/2^64 per draw).
TEST(TrainerTest, ExampleOrderIsUnchanged) {
  auto order = [](int64_t n, uint64_t unit_seed) {
    return ShuffledRange<int64_t>(n, DeriveSeed(unit_seed, "unit_order"));
  };
  EXPECT_EQ(order(12, 0), (std::vector<int64_t>{5, 8, 7, 0, 1, 2, 10, 11, 9, 6, 3, 4}));
  EXPECT_EQ(order(12, 1), (std::vector<int64_t>{8, 1, 2, 4, 0, 6, 7, 10, 11, 9, 5, 3}));
  EXPECT_EQ(order(12, 21), (std::vector<int64_t>{5, 4, 10, 1, 11, 2, 9, 3, 8, 7, 6, 0}));
  const std::vector<int64_t> big = order(1000, 7);
  EXPECT_EQ(std::vector<int64_t>(big.begin(), big.begin() + 10),
            (std::vector<int64_t>{407, 925, 84, 581, 638, 27, 919, 674, 387, 790}));
  EXPECT_EQ(big.back(), 460);
}

// ---- the C++ entry point with in-memory data (shapes the CSV store cannot express) -----

data::Dataset Images(int n, uint64_t seed) {
  // 2 classes of 8x8 images: a bright top half or a bright left half, plus noise.
  data::Dataset d;
  d.task = data::Task::kClassification;
  d.feature_shape = {1, 8, 8};
  d.num_classes = 2;
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (int i = 0; i < n; ++i) {
    int label = i % 2;
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c)
        d.features.push_back(((label ? c : r) < 4 ? 1.0f : 0.0f) + noise(gen));
    d.int_labels.push_back(label);
  }
  return d;
}

TEST(TrainerTest, CnnTrainsOnImages) {
  ASSERT_TRUE(ConfigureProcess(1).ok());
  Trainer t;
  ASSERT_TRUE(t.SetPartition(PartitionKind::kTrain, Images(256, 1)).ok());
  ASSERT_TRUE(t.SetPartition(PartitionKind::kVal, Images(100, 2)).ok());
  const std::string config =
      R"({"model":"cnn","conv_channels":[4,8],"kernel_size":3,"pool":"max","dense":[16],)"
      R"("dropout":0.1,"lr":0.01,"batch_size":16})";
  std::vector<uint8_t> state;
  for (int unit = 0; unit < 3; ++unit) {
    auto r = t.RunUnit(
        UnitRequest{config, true, 1, static_cast<uint64_t>(unit), state.data(), state.size()});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    state.assign(r->state.data(), r->state.data() + r->state.size());
  }
  auto eval = t.RunUnit(UnitRequest{config, false, 1, 0, state.data(), state.size()});
  ASSERT_TRUE(eval.ok()) << eval.status().ToString();
  EXPECT_EQ(eval->num_examples, 100);
  EXPECT_GE(eval->correct, 95);
}

TEST(TrainerTest, RegressionUsesMseAndReportsNoAccuracy) {
  data::Dataset d;
  d.task = data::Task::kRegression;
  d.feature_shape = {3};
  std::mt19937_64 gen(5);
  std::normal_distribution<float> x(0.0f, 1.0f);
  for (int i = 0; i < 300; ++i) {
    float a = x(gen), b = x(gen), c = x(gen);
    d.features.insert(d.features.end(), {a, b, c});
    d.float_labels.push_back(2 * a - b + 0.5f * c + 1);
  }
  Trainer t;
  ASSERT_TRUE(t.SetPartition(PartitionKind::kTrain, d).ok());
  ASSERT_TRUE(t.SetPartition(PartitionKind::kVal, d).ok());
  const std::string config = R"({"model":"mlp","optimizer":"sgd","lr":0.05,"batch_size":10})";
  std::vector<UnitRequest> units;
  for (uint64_t i = 0; i < 5; ++i) units.push_back(UnitRequest{config, true, 1, i, nullptr, 0});
  auto r = t.RunUnits(units);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->front().correct, 0);
  EXPECT_LT(r->back().loss_sum, 0.01 * r->front().loss_sum);
  auto ce =
      t.RunUnit(UnitRequest{R"({"model":"mlp","loss":"cross_entropy"})", true, 1, 1, nullptr, 0});
  ASSERT_FALSE(ce.ok());
  EXPECT_EQ(ce.status().code(), StatusCode::kInvalidArgument);
}

// 8x8 byte images of the same two classes, kept as bytes (as IDX sources are).
data::Dataset ByteImages(int n, uint64_t seed) {
  data::Dataset d;
  d.task = data::Task::kClassification;
  d.feature_shape = {1, 8, 8};
  d.num_classes = 2;
  d.encoding = data::FeatureEncoding::kUint8;
  d.byte_feature_scale = 1.0 / 255;
  std::mt19937_64 gen(seed);
  for (int i = 0; i < n; ++i) {
    int label = i % 2;
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c)
        d.byte_features.push_back(
            static_cast<uint8_t>(((label ? c : r) < 4 ? 160 : 0) + gen() % 96));
    d.int_labels.push_back(label);
  }
  return d;
}

// The same examples with the features decoded to float32 up front.
data::Dataset Decoded(const data::Dataset& bytes) {
  data::Dataset d = bytes;
  d.encoding = data::FeatureEncoding::kFloat32;
  d.byte_features.clear();
  for (int64_t i = 0; i < bytes.num_feature_values(); ++i) d.features.push_back(bytes.FeatureAt(i));
  return d;
}

TEST(TrainerTest, ByteFeaturesTrainBitwiseLikeTheirDecodedFloats) {
  ASSERT_TRUE(ConfigureProcess(1).ok());
  const std::string config =
      R"({"model":"cnn","conv_channels":[4],"kernel_size":3,"dense":[8],"lr":0.01,"batch_size":7})";
  std::vector<std::vector<uint8_t>> states;
  std::vector<double> eval_loss;
  for (bool bytes : {true, false}) {
    Trainer t;
    data::Dataset train = ByteImages(50, 1), val = ByteImages(30, 2);
    ASSERT_TRUE(t.SetPartition(PartitionKind::kTrain, bytes ? train : Decoded(train)).ok());
    ASSERT_TRUE(t.SetPartition(PartitionKind::kVal, bytes ? val : Decoded(val)).ok());
    std::vector<uint8_t> state;
    for (uint64_t unit = 0; unit < 2; ++unit) {
      auto r = t.RunUnit(UnitRequest{config, true, 1, unit, state.data(), state.size()});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      state.assign(r->state.data(), r->state.data() + r->state.size());
    }
    auto eval = t.RunUnit(UnitRequest{config, false, 1, 0, state.data(), state.size()});
    ASSERT_TRUE(eval.ok()) << eval.status().ToString();
    states.push_back(state);
    eval_loss.push_back(eval->loss_sum);
  }
  EXPECT_EQ(states[0], states[1]);
  EXPECT_EQ(eval_loss[0], eval_loss[1]);
}

TEST(TrainerTest, RejectsInconsistentDatasets) {
  Trainer t;
  data::Dataset d = Images(4, 1);
  d.features.pop_back();
  EXPECT_EQ(t.SetPartition(PartitionKind::kTrain, d).code(), StatusCode::kDataLoss);
  data::Dataset bad_label = Images(4, 1);
  bad_label.int_labels[0] = 2;
  EXPECT_EQ(t.SetPartition(PartitionKind::kTrain, bad_label).code(), StatusCode::kDataLoss);
  data::Dataset short_bytes = ByteImages(4, 1);
  short_bytes.byte_features.pop_back();
  EXPECT_EQ(t.SetPartition(PartitionKind::kTrain, short_bytes).code(), StatusCode::kDataLoss);
  data::Dataset both = ByteImages(4, 1);
  both.features.push_back(1.0f);  // floats beside bytes: which one is meant?
  EXPECT_EQ(t.SetPartition(PartitionKind::kTrain, both).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cerebro::train

#include "cerebro/store/summary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

namespace cerebro::store {
namespace {

Summary TwoModels() {
  Summary s;
  s.name = "demo";
  s.metric = "accuracy";
  s.direction = spec::Direction::kMaximize;
  s.best_model = 1;
  s.best_value = 0.75;
  s.strategy = "mop";
  s.backend = "local";
  s.order = "fixed";
  s.workers = 2;
  s.partitions = 4;
  s.epochs = 2;
  s.seed = UINT64_MAX;
  s.timing.wall_seconds = 2.0;
  s.timing.observer_seconds = 0.25;
  s.timing.train_examples = 400;
  s.timing.state_bytes_moved = 12345;
  s.timing.checkpoint_bytes = 678;
  ModelOutcome a;
  a.id = 1;
  a.rank = 1;
  a.params = Json{{"model", "mlp"}, {"lr", 0.01}};
  a.status = ModelStatus::kCompleted;
  a.train_units = 8;
  a.eval_units = 8;
  EpochRow r;
  r.model_id = 1;
  r.epoch = 1;
  r.train_loss = 0.5;
  r.train_accuracy = 0.6;
  r.val_loss = 0.4;
  r.val_accuracy = 0.75;
  r.seconds = 0.25;
  a.history = {r};
  a.checkpoint = "checkpoints/model_0001.u00008.state";
  ModelOutcome b;
  b.id = 0;
  b.rank = 2;
  b.params = Json{{"model", "mlp"}, {"lr", 0.1}};
  b.status = ModelStatus::kStopped;
  b.failure = "procedure decision";
  b.origin = ModelOrigin::kProcedure;
  b.parent = 1;
  r.model_id = 0;
  b.history = {r};
  s.models = {a, b};
  return s;
}

TEST(SummaryTest, RoundTrips) {
  const Summary s = TwoModels();
  const std::string text = SummaryToJson(s).dump(2);
  auto back = ParseSummary(text, "summary.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(SummaryToJson(*back), SummaryToJson(s));
  EXPECT_EQ(back->seed, UINT64_MAX);
  ASSERT_EQ(back->models.size(), 2u);
  EXPECT_EQ(back->models[1].status, ModelStatus::kStopped);
  EXPECT_EQ(back->models[1].origin, ModelOrigin::kProcedure);
  EXPECT_EQ(back->models[1].parent, 1);
  EXPECT_EQ(back->models[1].history[0].model_id, 0);
  EXPECT_EQ(back->models[0].parent, -1);
}

// The layout readers (tests, bench/*.py, bench/*.sh) rely on: today's keys in today's
// order, plus "finished" and each model's origin and (when it has one) parent.
TEST(SummaryTest, KeepsTheLayoutReadersUse) {
  Json j = SummaryToJson(TwoModels());
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "metric", "direction", "best", "strategy",
                                            "backend", "workers", "partitions", "epochs", "seed",
                                            "order", "timing", "checkpoint_bytes", "finished",
                                            "models"}));
  EXPECT_EQ(j["best"], (Json{{"model_id", 1}, {"metric", "accuracy"}, {"direction", "max"},
                             {"value", 0.75}}));
  EXPECT_EQ(j["timing"]["train_samples_per_second"], 200.0);
  keys.clear();
  for (auto it = j["models"][1].begin(); it != j["models"][1].end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "rank", "params", "status", "failure",
                                            "train_units", "eval_units", "history", "checkpoint",
                                            "origin", "parent"}));
  EXPECT_EQ(j["models"][1]["status"], "stopped");
  EXPECT_EQ(j["models"][1]["checkpoint"], nullptr);
  EXPECT_FALSE(j["models"][0].contains("failure"));
  EXPECT_FALSE(j["models"][0].contains("parent"));
  EXPECT_EQ(j["models"][0]["origin"], "search");
  Summary none = TwoModels();
  none.best_model = -1;
  none.name.clear();
  j = SummaryToJson(none);
  EXPECT_TRUE(j["best"].is_null());
  EXPECT_FALSE(j.contains("name"));
}

// A two-objective summary adds the objectives and the front after "direction", each
// model's parameter count and each row's training examples; it reads back the same.
TEST(SummaryTest, TwoObjectivesAddTheFrontAndRoundTrip) {
  Summary s = TwoModels();
  s.objectives = {{"accuracy", spec::Direction::kMaximize},
                  {"num_parameters", spec::Direction::kMinimize}};
  s.pareto_front = {1, 0};
  s.models[0].num_parameters = 1234;
  s.models[0].history[0].train_examples = 300;
  const Json j = SummaryToJson(s);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  ASSERT_GE(keys.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 6),
            (std::vector<std::string>{"name", "metric", "direction", "objectives", "pareto_front",
                                      "best"}));
  EXPECT_EQ(j["objectives"].dump(),
            R"([{"name":"accuracy","direction":"max"},{"name":"num_parameters","direction":"min"}])");
  EXPECT_EQ(j["pareto_front"], (Json{1, 0}));
  EXPECT_EQ(j["models"][0]["num_parameters"], 1234);
  EXPECT_EQ(j["models"][0]["history"][0]["train_examples"], 300);
  auto back = ParseSummary(j.dump(2), "summary.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(SummaryToJson(*back), j);
  EXPECT_EQ(back->pareto_front, (std::vector<int>{1, 0}));
  EXPECT_EQ(back->models[0].num_parameters, 1234);
  // One objective writes none of it.
  const Json single = SummaryToJson(TwoModels());
  EXPECT_FALSE(single.contains("objectives"));
  EXPECT_FALSE(single.contains("pareto_front"));
  EXPECT_FALSE(single["models"][0].contains("num_parameters"));
  EXPECT_FALSE(single["models"][0]["history"][0].contains("train_examples"));
  // A front of something other than ids is refused, naming it.
  Json bad = j;
  bad["pareto_front"] = Json{"one"};
  auto refused = ParseSummary(bad.dump(), "summary.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("pareto_front"), std::string::npos)
      << refused.status().message();
}

// What today's main writes (no origin, no parent) still reads; a failed model's
// non-finite loss was written as null and reads back as NaN.
TEST(SummaryTest, ReadsSummariesWrittenBeforeOrigins) {
  const char* text = R"({
    "metric": "loss", "direction": "min", "best": null, "strategy": "task",
    "backend": "local", "workers": 2, "partitions": 1, "epochs": 1, "seed": 5,
    "order": "random",
    "timing": {"wall_seconds": 1.5, "prepare_seconds": 0.5, "compute_seconds": 1.0,
               "transfer_seconds": 0.0, "state_codec_seconds": 0.0,
               "checkpoint_seconds": 0.0, "train_examples": 10,
               "train_samples_per_second": 6.7, "state_bytes_moved": 0},
    "checkpoint_bytes": 0,
    "models": [{"id": 0, "rank": 1, "params": {"model": "mlp"}, "status": "failed",
                "failure": "non-finite validation loss after epoch 1",
                "train_units": 1, "eval_units": 1,
                "history": [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5,
                             "val_loss": null, "val_accuracy": 0.0, "seconds": 0.1}],
                "checkpoint": null}]})";
  auto s = ParseSummary(text, "summary.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->direction, spec::Direction::kMinimize);
  EXPECT_EQ(s->best_model, -1);
  EXPECT_EQ(s->strategy, "task");
  ASSERT_EQ(s->models.size(), 1u);
  EXPECT_EQ(s->models[0].status, ModelStatus::kFailed);
  EXPECT_EQ(s->models[0].origin, ModelOrigin::kSearch);
  EXPECT_EQ(s->models[0].parent, -1);
  EXPECT_TRUE(std::isnan(s->models[0].history[0].val_loss));
  EXPECT_EQ(s->models[0].checkpoint, "");
}

struct Malformed {
  std::string what;     // a name for the case
  std::string text;     // the file's contents
  std::string message;  // the whole error message
};

// summary.json with one field replaced: `path` is a JSON pointer into the good file.
std::string With(const std::string& pointer, const Json& value) {
  Json j = SummaryToJson(TwoModels());
  j[Json::json_pointer(pointer)] = value;
  return j.dump();
}
std::string Without(const std::string& pointer) {
  Json j = SummaryToJson(TwoModels());
  Json::json_pointer p(pointer);
  j[p.parent_pointer()].erase(p.back());
  return j.dump();
}

class MalformedSummaryTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedSummaryTest, IsOneDataLossLineNamingTheField) {
  const Malformed& c = GetParam();
  auto s = ParseSummary(c.text, "run/summary.json");
  ASSERT_FALSE(s.ok()) << c.what;
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << c.what;
  EXPECT_EQ(s.status().message(), c.message) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSummaryTest,
    ::testing::Values(
        Malformed{"empty", "", "run/summary.json: not valid JSON at byte 1 (truncated or corrupt)"},
        Malformed{"truncated", SummaryToJson(TwoModels()).dump().substr(0, 100),
                  "run/summary.json: not valid JSON at byte 101 (truncated or corrupt)"},
        Malformed{"not JSON", "rank model status\n",
                  "run/summary.json: not valid JSON at byte 1 (truncated or corrupt)"},
        Malformed{"not an object", "[1, 2]", "run/summary.json: expected an object"},
        Malformed{"missing metric", Without("/metric"),
                  "run/summary.json: metric: expected a string"},
        Malformed{"best a number", With("/best", 3),
                  "run/summary.json: best: expected an object or null"},
        Malformed{"best.value a string", With("/best/value", "high"),
                  "run/summary.json: best.value: expected a number"},
        Malformed{"direction unknown", With("/direction", "up"),
                  "run/summary.json: direction: expected one of max, min, maximize or minimize"},
        Malformed{"strategy unknown", With("/strategy", "magic"),
                  "run/summary.json: strategy: expected one of mop, sequential, task or dp"},
        Malformed{"workers too large", With("/workers", 4294967298),
                  "run/summary.json: workers: expected a 32-bit integer"},
        Malformed{"seed negative", With("/seed", -1),
                  "run/summary.json: seed: expected a non-negative integer"},
        Malformed{"timing missing", Without("/timing"),
                  "run/summary.json: timing: expected an object"},
        Malformed{"timing field wrong", With("/timing/wall_seconds", "1s"),
                  "run/summary.json: timing.wall_seconds: expected a number"},
        Malformed{"models an object", With("/models", Json::object()),
                  "run/summary.json: models: expected an array"},
        Malformed{"model not an object", With("/models/1", 7),
                  "run/summary.json: models[1]: expected an object"},
        Malformed{"id a string", With("/models/0/id", "0"),
                  "run/summary.json: models[0].id: expected a 32-bit integer"},
        Malformed{"params missing", Without("/models/0/params"),
                  "run/summary.json: models[0].params: expected an object"},
        Malformed{"status unknown", With("/models/1/status", "done"),
                  "run/summary.json: models[1].status: expected one of pending, running, "
                  "completed, stopped or failed"},
        Malformed{"failure a number", With("/models/1/failure", 1),
                  "run/summary.json: models[1].failure: expected a string"},
        Malformed{"history row wrong", With("/models/0/history/0/val_loss", "low"),
                  "run/summary.json: models[0].history[0].val_loss: expected a number or null"},
        Malformed{"history row missing epoch", Without("/models/0/history/0/epoch"),
                  "run/summary.json: models[0].history[0].epoch: expected a 32-bit integer"},
        Malformed{"checkpoint a number", With("/models/0/checkpoint", 3),
                  "run/summary.json: models[0].checkpoint: expected a string or null"},
        Malformed{"origin unknown", With("/models/0/origin", "magic"),
                  "run/summary.json: models[0].origin: expected one of search, procedure or "
                  "control"},
        Malformed{"parent a string", With("/models/1/parent", "1"),
                  "run/summary.json: models[1].parent: expected a 32-bit integer"}));

TEST(SummaryTest, ReadSummaryNamesAMissingFile) {
  char tmpl[] = "/tmp/cerebro_summary_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  FileSystem& fs = RealFileSystem();
  auto s = ReadSummary(&fs, dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), dir + "/summary.json: no summary (is the run finished?)");
  ASSERT_TRUE(fs.WriteFileAtomic(dir + "/summary.json", SummaryToJson(TwoModels()).dump(2)).ok());
  s = ReadSummary(&fs, dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->models.size(), 2u);
  ASSERT_TRUE(fs.WriteFileAtomic(dir + "/summary.json", "{\"metric\": ").ok());
  s = ReadSummary(&fs, dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.status().message().rfind(dir + "/summary.json: not valid JSON", 0), 0u)
      << s.status().message();
  (void)fs.RemoveAll(dir);
}

}  // namespace
}  // namespace cerebro::store

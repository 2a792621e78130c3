// cerebro_tpe_quality_bench: search quality of the TPE procedure against random search on
// synthetic objectives evaluated without training (issue 11, "Search quality"). Drives
// search::MakeProcedure as the run loop would (models finish in the order they were
// added, one epoch each, the objective as validation loss) and writes one CSV row per
// (method, objective, seed, trial): the best value so far. bench/search/report.py turns
// these rows (and optuna_quality.py's, same format) into tables.
//
// Usage: cerebro_tpe_quality_bench [--seeds N] [--trials T] [--surrogate JSON] > traces.csv
//        cerebro_tpe_quality_bench --eval-surrogate JSON < params.jsonl   (one loss a line,
//        for fit_mlp_surrogate.py --check: the same values as mlp_surrogate.py's)
// mlp_surrogate (default JSON bench/search/mlp_surrogate.json, relative to the working
// directory; left out when the file is absent) is fitted to measured MLP runs.
// Methods: random (search.method random), tpe_seq (in_flight 1: every proposal sees every
// earlier result, as Optuna's sequential study.optimize) and tpe_mop (in_flight 4, the
// default for 1-4 workers: proposals run up to 3 results stale), and the same two with
// multivariate: true (tpe_mv_*), Optuna 5's default. Single-threaded, no clock.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cerebro/search/procedure.h"
#include "cerebro/search/space.h"

namespace {

using cerebro::ModelId;
using cerebro::ModelStatus;
using cerebro::search::AddModel;
using cerebro::search::Decision;
using cerebro::search::ModelView;
using cerebro::search::Observation;
using cerebro::spec::Json;

struct Objective {
  const char* name;
  const char* params;  // the spec's params section
  std::function<double(const Json&)> f;
};

double Branin(const Json& p) {
  const double x1 = p["x1"].get<double>(), x2 = p["x2"].get<double>();
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

double Hartmann6(const Json& p) {
  static constexpr double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static constexpr double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                     {0.05, 10, 17, 0.1, 8, 14},
                                     {3, 3.5, 1.7, 10, 17, 8},
                                     {17, 8, 0.05, 10, 0.1, 14}};
  static constexpr double q[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                     {2329, 4135, 8307, 3736, 1004, 9991},
                                     {2348, 1451, 3522, 2883, 3047, 6650},
                                     {4047, 8828, 8732, 5743, 1091, 381}};
  double f = 0;
  for (int i = 0; i < 4; ++i) {
    double s = 0;
    for (int j = 0; j < 6; ++j) {
      const double x = p["x" + std::to_string(j)].get<double>();
      s += a[i][j] * std::pow(x - q[i][j] * 1e-4, 2);
    }
    f -= alpha[i] * std::exp(-s);
  }
  return f;
}

// A hand-made stand-in for an MLP space (not fitted to measured runs): every kind of
// distribution the spec has, minimum ~0 at lr 1e-3, batch 128, tanh, ~100 units, no dropout.
double MixedMlp(const Json& p) {
  const double lr = std::log10(p["lr"].get<double>()) + 3;
  const double bs = (p["batch_size"].get<double>() - 128) / 128;
  const double act = p["activation"] == "tanh" ? 0 : 1;
  const double hidden = std::log10(p["hidden"].get<double>()) - 2;
  return lr * lr + bs * bs + act + hidden * hidden + p["dropout"].get<double>();
}

// fit_mlp_surrogate.py's model (the formula is in mlp_surrogate.py): the same operations in
// the same order, so the two agree to rounding.
class MlpSurrogate {
 public:
  explicit MlpSurrogate(const Json& m) : model_(m) {
    for (const Json& s : m["scales"]) scales_.push_back(s.get<double>());
    for (const Json& w : m["weights"]) weights_.push_back(w.get<double>());
    for (const Json& c : m["centers"]) centers_.push_back(c.get<std::vector<double>>());
    mean_ = m["mean"].get<double>();
  }
  double Loss(const Json& params) const {
    std::vector<double> e;
    for (const Json& p : model_["params"]) {
      const Json& v = params[p["name"].get<std::string>()];
      if (p.contains("choices")) {
        for (const Json& c : p["choices"]) e.push_back(v == c ? 1.0 : 0.0);
      } else {
        const double x = v.get<double>();
        const double t = p["transform"] == "log10" ? std::log10(x) : x;
        const double low = p["low"].get<double>(), high = p["high"].get<double>();
        e.push_back((t - low) / (high - low));
      }
    }
    double s = 0;
    for (size_t i = 0; i < weights_.size(); ++i) {
      double z = 0;
      for (size_t d = 0; d < e.size(); ++d) {
        const double u = (e[d] - centers_[i][d]) / scales_[d];
        z += u * u;
      }
      s += weights_[i] * std::exp(-0.5 * z);
    }
    return 1.0 - 1.0 / (1.0 + std::exp(-(mean_ + s)));
  }

 private:
  Json model_;
  std::vector<double> scales_, weights_;
  std::vector<std::vector<double>> centers_;
  double mean_ = 0;
};

// The model in `path`, or nullopt when there is none (exits on a malformed one).
std::optional<MlpSurrogate> LoadSurrogate(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  Json m = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.contains("centers")) {
    std::fprintf(stderr, "%s: not a surrogate model\n", path.c_str());
    std::exit(1);
  }
  return MlpSurrogate(m);
}

// The space measure_mlp_space.sh measured (fit_mlp_surrogate.py's PARAMS).
constexpr char kMlpSpace[] =
    "  hidden: {choice: [[64], [128], [256], [256, 128]]}\n"
    "  activation: {choice: [relu, tanh]}\n  dropout: {uniform: [0.0, 0.5]}\n"
    "  optimizer: {choice: [adam, sgd]}\n  lr: {loguniform: [-5, -1]}\n"
    "  weight_decay: {loguniform: [-6, -2]}\n  batch_size: {quniform: [32, 256, 32]}\n";

cerebro::spec::ExperimentSpec Spec(const Objective& o, const std::string& search, uint64_t seed) {
  const std::string text =
      "data: {format: csv, train: /dev/null, validation: {fraction: 0.2}}\nparams:\n  model: mlp\n" +
      std::string(o.params) + "search: " + search + "\nmetric: {name: loss}\nrun: {epochs: 1, seed: " +
      std::to_string(seed) + "}\n";
  auto s = cerebro::spec::ParseSpecString(text, "bench.yaml");
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  return *s;
}

// The objective's value of every model, in the order proposed.
std::vector<double> RunProcedure(const cerebro::spec::ExperimentSpec& spec, const Objective& o) {
  auto made = cerebro::search::MakeProcedure(spec);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<cerebro::search::Procedure> p = std::move(*made);
  Observation run;
  std::deque<ModelId> in_flight;
  std::vector<double> values;
  auto apply = [&](const cerebro::StatusOr<std::vector<Decision>>& d) {
    if (!d.ok()) {
      std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
      std::exit(1);
    }
    for (const Decision& x : *d) {
      ModelView m;
      m.id = static_cast<ModelId>(run.models.size());
      m.params = std::get<AddModel>(x).params;
      m.epochs = 1;
      in_flight.push_back(m.id);
      run.models.push_back(std::move(m));
    }
  };
  apply(p->Start(run));
  while (!in_flight.empty()) {
    ModelView& m = run.models[static_cast<size_t>(in_flight.front())];
    in_flight.pop_front();
    values.push_back(o.f(m.params));
    m.history.push_back({1, 0, 0, values.back(), 0});
    m.status = ModelStatus::kCompleted;
    apply(p->OnEpochDone(run, m.id));
  }
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 20, trials = 64;
  std::string surrogate_path = "bench/search/mlp_surrogate.json", eval_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seeds") == 0) seeds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--trials") == 0) trials = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--surrogate") == 0) surrogate_path = argv[i + 1];
    if (std::strcmp(argv[i], "--eval-surrogate") == 0) eval_path = argv[i + 1];
  }
  if (!eval_path.empty()) {
    const std::optional<MlpSurrogate> s = LoadSurrogate(eval_path);
    if (!s) {
      std::fprintf(stderr, "%s: cannot read\n", eval_path.c_str());
      return 1;
    }
    for (std::string line; std::getline(std::cin, line);) {
      std::printf("%.17g\n", s->Loss(Json::parse(line)));
    }
    return 0;
  }
  const std::optional<MlpSurrogate> surrogate = LoadSurrogate(surrogate_path);
  if (!surrogate) {
    std::fprintf(stderr, "%s: absent, mlp_surrogate left out\n", surrogate_path.c_str());
  }
  std::vector<Objective> objectives = {
      {"branin", "  x1: {uniform: [-5, 10]}\n  x2: {uniform: [0, 15]}\n", Branin},
      {"hartmann6",
       "  x0: {uniform: [0, 1]}\n  x1: {uniform: [0, 1]}\n  x2: {uniform: [0, 1]}\n"
       "  x3: {uniform: [0, 1]}\n  x4: {uniform: [0, 1]}\n  x5: {uniform: [0, 1]}\n",
       Hartmann6},
      {"mixed_mlp",
       "  lr: {loguniform: [-5, -1]}\n  batch_size: {quniform: [32, 512, 32]}\n"
       "  activation: {choice: [relu, tanh, gelu]}\n  dropout: {uniform: [0.0, 0.5]}\n"
       "  hidden: {qloguniform: [1, 3, 8]}\n",
       MixedMlp},
  };
  if (surrogate) {
    objectives.push_back(
        {"mlp_surrogate", kMlpSpace, [&](const Json& p) { return surrogate->Loss(p); }});
  }
  const std::string n = std::to_string(trials);
  const std::pair<const char*, std::string> methods[] = {
      {"random", "{method: random, num_models: " + n + "}"},
      {"tpe_seq", "{method: tpe, num_models: " + n + ", in_flight: 1}"},
      {"tpe_mop", "{method: tpe, num_models: " + n + ", in_flight: 4}"},
      {"tpe_mv_seq", "{method: tpe, num_models: " + n + ", in_flight: 1, multivariate: true}"},
      {"tpe_mv_mop", "{method: tpe, num_models: " + n + ", in_flight: 4, multivariate: true}"},
  };
  std::printf("method,objective,seed,trial,best\n");
  for (const Objective& o : objectives) {
    for (const auto& [method, search] : methods) {
      for (int seed = 1; seed <= seeds; ++seed) {
        const auto spec = Spec(o, search, static_cast<uint64_t>(seed));
        std::vector<double> values;
        if (spec.search.method == cerebro::spec::SearchMethod::kRandom) {
          auto configs = cerebro::search::GenerateConfigs(spec);
          for (const auto& c : *configs) values.push_back(o.f(c.params));
        } else {
          values = RunProcedure(spec, o);
        }
        double best = std::numeric_limits<double>::infinity();
        for (size_t t = 0; t < values.size(); ++t) {
          best = std::min(best, values[t]);
          std::printf("%s,%s,%d,%zu,%.9g\n", method, o.name, seed, t + 1, best);
        }
      }
    }
  }
  return 0;
}

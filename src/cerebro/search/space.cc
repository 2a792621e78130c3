#include "cerebro/search/space.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cerebro/common/rng.h"

namespace cerebro::search {

namespace {
constexpr int64_t kMaxModels = 100000;

double Quantize(double x, double q) { return std::round(x / q) * q; }
}  // namespace

spec::Json Sample(const spec::Distribution& d, std::mt19937_64& rng) {
  using K = spec::Distribution::Kind;
  if (d.kind == K::kChoice) {
    std::uniform_int_distribution<size_t> pick(0, d.choices.size() - 1);
    return d.choices[pick(rng)];
  }
  std::uniform_real_distribution<double> u(d.low, d.high);
  double x = u(rng);
  if (d.kind == K::kLogUniform || d.kind == K::kQLogUniform) x = std::pow(10.0, x);
  if (d.kind == K::kQUniform || d.kind == K::kQLogUniform) {
    x = Quantize(x, d.q);
    // Quantising can step just outside [low, high]; clamp to the nearest in-range multiple.
    double lo = d.kind == K::kQUniform ? d.low : std::pow(10.0, d.low);
    double hi = d.kind == K::kQUniform ? d.high : std::pow(10.0, d.high);
    if (x < lo) x += d.q;
    if (x > hi) x -= d.q;
    if (d.integer) return spec::Json(static_cast<int64_t>(std::llround(x)));
  }
  return spec::Json(x);
}

namespace {

// Grid expansion in spec order, the last parameter varying fastest: at each param that
// applies to the configuration so far, one branch per choice (a fixed value is one);
// a param whose condition fails is left out, so no configuration repeats. Counting
// stops once it passes `cap`; `emit` (optional) receives each configuration.
class Grid {
 public:
  Grid(const spec::ExperimentSpec& spec, int64_t cap, std::vector<ModelConfig>* emit)
      : params_(spec.params), cap_(cap), emit_(emit) {}

  int64_t Count() {
    spec::Json config = spec::Json::object();
    Expand(0, config, 1);
    return count_;
  }

 private:
  // `weight`: how many configurations each leaf stands for (params no later condition
  // refers to are multiplied in, not enumerated, when only counting).
  void Expand(size_t k, spec::Json& config, int64_t weight) {
    if (count_ > cap_) return;
    if (k == params_.size()) {
      if (emit_ != nullptr) emit_->push_back({static_cast<int>(emit_->size()), config});
      count_ = weight > cap_ - count_ ? cap_ + 1 : count_ + weight;
      return;
    }
    const spec::Param& p = params_[k];
    if (!spec::Applies(p, config)) return Expand(k + 1, config, weight);
    if (!p.searched) {
      config[p.name] = p.value;
      Expand(k + 1, config, weight);
      config.erase(p.name);
      return;
    }
    const auto& choices = p.dist.choices;
    if (emit_ == nullptr && !Referenced(p.name)) {
      const int64_t n = static_cast<int64_t>(choices.size());
      config[p.name] = choices[0];
      Expand(k + 1, config, weight > cap_ / n ? cap_ + 1 : weight * n);
      config.erase(p.name);
      return;
    }
    for (const auto& c : choices) {
      config[p.name] = c;
      Expand(k + 1, config, weight);
    }
    config.erase(p.name);
  }

  bool Referenced(const std::string& name) const {
    for (const auto& q : params_) {
      for (const auto& c : q.when) {
        if (c.param == name) return true;
      }
    }
    return false;
  }

  const std::vector<spec::Param>& params_;
  const int64_t cap_;
  std::vector<ModelConfig>* emit_;
  int64_t count_ = 0;
};

}  // namespace

int64_t GridSize(const spec::ExperimentSpec& spec) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t n = Grid(spec, max - 1, nullptr).Count();
  return n >= max - 1 ? max : n;
}

StatusOr<std::vector<ModelConfig>> GenerateConfigs(const spec::ExperimentSpec& spec) {
  RETURN_IF_ERROR(spec::Validate(spec));
  std::vector<ModelConfig> out;
  if (spec.search.method == spec::SearchMethod::kGrid) {
    // Counting up to the limit only: conditions can make an exact count of a huge grid slow.
    if (Grid(spec, kMaxModels, nullptr).Count() > kMaxModels) {
      const bool conditional = std::any_of(spec.params.begin(), spec.params.end(),
                                           [](const spec::Param& p) { return !p.when.empty(); });
      const std::string n = conditional ? "more than " + std::to_string(kMaxModels)
                                        : std::to_string(GridSize(spec));
      return InvalidArgument("params: the grid has " + n + " configurations (at most " +
                             std::to_string(kMaxModels) + ")");
    }
    Grid(spec, kMaxModels, &out).Count();
    return out;
  }
  // Random search: one stream per hyperparameter, keyed by its name.
  int n = spec.search.num_models;
  if (n > kMaxModels) return InvalidArgument("search.num_models: at most " + std::to_string(kMaxModels));
  out.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[i].id = i;
    out[i].params = spec::Json::object();
  }
  for (const auto& p : spec.params) {
    std::mt19937_64 rng(DeriveSeed(spec.run.seed, "search.param", {HashString(p.name)}));
    // A conditional param is drawn only for the models it applies to; the other params'
    // streams are their own, so their draws do not change.
    for (int i = 0; i < n; ++i) {
      if (!spec::Applies(p, out[i].params)) continue;
      out[i].params[p.name] = p.searched ? Sample(p.dist, rng) : p.value;
    }
  }
  return out;
}

}  // namespace cerebro::search

#include "cerebro/search/space.h"

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

int64_t GridSize(const spec::ExperimentSpec& spec) {
  int64_t n = 1;
  for (const auto& p : spec.params) {
    if (!p.searched) continue;
    int64_t k = static_cast<int64_t>(p.dist.choices.size());
    if (n > std::numeric_limits<int64_t>::max() / std::max<int64_t>(k, 1)) {
      return std::numeric_limits<int64_t>::max();
    }
    n *= k;
  }
  return n;
}

StatusOr<std::vector<ModelConfig>> GenerateConfigs(const spec::ExperimentSpec& spec) {
  RETURN_IF_ERROR(spec::Validate(spec));
  std::vector<ModelConfig> out;
  if (spec.search.method == spec::SearchMethod::kGrid) {
    int64_t n = GridSize(spec);
    if (n > kMaxModels) {
      return InvalidArgument("params: the grid has " + std::to_string(n) +
                             " configurations (at most " + std::to_string(kMaxModels) + ")");
    }
    for (int64_t i = 0; i < n; ++i) {
      // Mixed-radix decode of i, last parameter fastest.
      int64_t rest = i;
      spec::Json params = spec::Json::object();
      std::vector<const spec::Param*> order;
      for (const auto& p : spec.params) order.push_back(&p);
      std::vector<spec::Json> values(order.size());
      for (size_t k = order.size(); k-- > 0;) {
        const spec::Param& p = *order[k];
        if (!p.searched) {
          values[k] = p.value;
          continue;
        }
        int64_t radix = static_cast<int64_t>(p.dist.choices.size());
        values[k] = p.dist.choices[static_cast<size_t>(rest % radix)];
        rest /= radix;
      }
      for (size_t k = 0; k < order.size(); ++k) params[order[k]->name] = values[k];
      out.push_back({static_cast<int>(i), std::move(params)});
    }
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
    for (int i = 0; i < n; ++i) out[i].params[p.name] = p.searched ? Sample(p.dist, rng) : p.value;
  }
  return out;
}

}  // namespace cerebro::search

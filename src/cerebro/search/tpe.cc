#include "cerebro/search/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cerebro/common/rng.h"
#include "cerebro/search/pareto.h"
#include "cerebro/search/space.h"

// How this follows Optuna's TPESampler (as read in 5.0.0, `optuna/samplers/_tpe/`), and where not:
// - Same: random until n_startup_trials models have finished (Optuna counts complete
//   trials, so with models in flight the first TPE proposal comes later than proposal
//   n_startup_trials: measured, fitting on fewer results cost ~0.3 accuracy points on
//   bench/search's MLP surrogate at 4 in flight); gamma(n) = min(ceil(0.1 n), 25); the
//   default weights (1 for n < 25, else a linear ramp from 1/n over the oldest n - 25);
//   a prior kernel (mean (lo+hi)/2, sigma hi-lo, weight prior_weight); univariate
//   bandwidths from the larger neighbour gap (endpoints not considered) clipped to
//   [(hi-lo)/min(100, 1+kernels), hi-lo], the same in the multivariate (joint) estimator;
//   n_ei_candidates drawn from l(x), the one with the largest log l(x) - log g(x) wins;
//   log parameters live in log space; quantized uniforms are discrete truncated normals
//   (the mass of each bin), quantized log ones continuous in log space and rounded, as
//   Optuna's log-int; categoricals: each observation is a kernel putting 1 + prior on its
//   own choice and prior_weight / kernels on every choice; stopped models rank after the
//   completed ones, more epochs first (Optuna's pruned trials); the constant liar puts
//   pending and running models in the "bad" group.
// - Different: the constant liar is on by default (a MOP run always has models in flight);
//   proposal k sees the results of the first k - in_flight + 1 models only and waits for
//   them (Optuna sees whatever has finished), so decisions do not depend on timing or on
//   the worker count, at the price of results up to in_flight - 1 models stale; the log
//   base is 10 (spec exponents); a diverged model (non-finite metric) is
//   the worst observation rather than dropped; the truncated normal is drawn by inversion of its
//   CDF, so one draw per value, and the normal's tails are computed with erfc, less carefully than
//   scipy's log_ndtr far out.
// - The objective is the model's last epoch's metric (spec.h), negated when maximized
//   (tpe_procedure.cc, which also keeps the models in flight; the search.* knobs: tpe_options.cc).
// - Two or more objectives (MOTPE, Optuna's TPESampler on a multi-objective study): the good
//   group is the gamma(n) best finished models by non-dominated sorting, completed before
//   stopped as above, fronts taken whole until the one that straddles the cut. Within that
//   front Optuna keeps the models of largest hypervolume contribution and weighs the good
//   group's kernels by it; here the front is cut by NSGA-II's crowding distance (its
//   extremes first; ties by the first objective, then id) and the weights stay the default.

namespace cerebro::search {
namespace {

using spec::Json;
using Kind = spec::Distribution::Kind;

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2Pi = 2.5066282746310002;
constexpr double kLogFloor = -700;  // log of a mass that underflowed

// ---- the normal distribution -----------------------------------------------------------

double Phi(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

// log(Phi(b) - Phi(a)) for a < b, subtracting upper tails when both are above 0 so a
// mass far out is not lost to cancellation.
double LogNormalMass(double a, double b) {
  const double mass =
      a > 0 ? 0.5 * (std::erfc(a / kSqrt2) - std::erfc(b / kSqrt2)) : Phi(b) - Phi(a);
  return mass > 0 ? std::log(mass) : kLogFloor;
}

// The standard normal quantile: Acklam's rational approximation, then one Halley step.
double InversePhi(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  double x;
  if (p < 0.02425 || p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(p < 0.5 ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 0.5) x = -x;
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = Phi(x) - p;
  const double u = e * kSqrt2Pi * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double LogSumExp(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

// ---- the search space in TPE's internal coordinates -------------------------------------

// One searched parameter. Numeric ones live on [lo, hi]: base-10 exponents for the log
// forms, widened by half a step at both ends for the quantized ones (so the end values
// get whole bins). Categorical ones are choice indices.
struct Dim {
  std::string name;
  spec::Distribution dist;
  bool categorical = false;
  bool discrete = false;  // quniform: a bin's mass, not a density
  double lo = 0, hi = 0;
  double vmin = 0, vmax = 0;  // q-forms: the smallest and largest multiples of q in range
};

bool IsLog(const Dim& d) {
  return d.dist.kind == Kind::kLogUniform || d.dist.kind == Kind::kQLogUniform;
}
bool IsQuantized(const Dim& d) {
  return d.dist.kind == Kind::kQUniform || d.dist.kind == Kind::kQLogUniform;
}

Dim MakeDim(const spec::Param& p) {
  Dim d;
  d.name = p.name;
  d.dist = p.dist;
  if (p.dist.kind == Kind::kChoice) {
    d.categorical = true;
    d.lo = 0;
    d.hi = static_cast<double>(p.dist.choices.size());
    return d;
  }
  d.lo = p.dist.low;
  d.hi = p.dist.high;
  if (IsQuantized(d)) {
    const double q = p.dist.q;
    const double lo = IsLog(d) ? std::pow(10.0, p.dist.low) : p.dist.low;
    const double hi = IsLog(d) ? std::pow(10.0, p.dist.high) : p.dist.high;
    d.vmin = std::ceil(lo / q - 1e-9) * q;
    d.vmax = std::max(d.vmin, std::floor(hi / q + 1e-9) * q);
    d.discrete = !IsLog(d);
    d.lo = IsLog(d) ? std::log10(d.vmin - q / 2) : d.vmin - q / 2;
    d.hi = IsLog(d) ? std::log10(d.vmax + q / 2) : d.vmax + q / 2;
  }
  return d;
}

// A parameter value in internal coordinates; nullopt when the model does not have it or
// has a value outside the space (a model added by hand).
std::optional<double> ToInternal(const Dim& d, const Json& params) {
  auto it = params.find(d.name);
  if (it == params.end()) return std::nullopt;
  if (d.categorical) {
    for (size_t i = 0; i < d.dist.choices.size(); ++i) {
      if (d.dist.choices[i] == *it) return static_cast<double>(i);
    }
    return std::nullopt;
  }
  if (!it->is_number()) return std::nullopt;
  double x = it->get<double>();
  if (IsLog(d)) {
    if (!(x > 0)) return std::nullopt;
    x = std::log10(x);
  }
  if (!(x >= d.lo - 1e-9 && x <= d.hi + 1e-9)) return std::nullopt;
  return std::clamp(x, d.lo, d.hi);
}

// The value a draw stands for: rounded to the step and clamped to the values in range.
double Quantized(const Dim& d, double x) {
  const double v = IsLog(d) ? std::pow(10.0, x) : x;
  return std::clamp(std::round(v / d.dist.q) * d.dist.q, d.vmin, d.vmax);
}

// A draw moved onto the value it stands for, so it is scored where it will be tried.
double Snap(const Dim& d, double x) {
  if (d.categorical || !IsQuantized(d)) return x;
  const double v = Quantized(d, x);
  return IsLog(d) ? std::log10(v) : v;
}

Json ToValue(const Dim& d, double x) {
  if (d.categorical) return d.dist.choices[static_cast<size_t>(x)];
  if (!IsQuantized(d)) return Json(IsLog(d) ? std::pow(10.0, x) : std::clamp(x, d.lo, d.hi));
  const double v = Quantized(d, x);
  if (d.dist.integer) return Json(static_cast<int64_t>(std::llround(v)));
  return Json(v);
}

// ---- the Parzen estimator ---------------------------------------------------------------

// A weighted mixture of kernels over some dims: one kernel per observation plus the prior
// (the last). Each kernel is a product over dims of a truncated normal or a categorical.
class ParzenEstimator {
 public:
  // obs[k][j]: observation k's value on dims[j], oldest first.
  ParzenEstimator(const std::vector<const Dim*>& dims, const std::vector<std::vector<double>>& obs,
                  const TpeOptions& opt)
      : dims_(dims) {
    const size_t n = obs.size(), kernels = n + 1;
    // Optuna's default_weights: recent observations count fully, older ones less.
    std::vector<double> w(n, 1.0);
    if (n >= 25) {
      const size_t ramp = n - 25;
      for (size_t i = 0; i < ramp; ++i) {
        w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * i / (ramp - 1);
      }
    }
    w.push_back(opt.prior_weight);
    double total = 0;
    for (double x : w) total += x;
    for (double x : w) log_weights_.push_back(std::log(x / total));

    params_.resize(dims.size());
    for (size_t j = 0; j < dims.size(); ++j) {
      const Dim& d = *dims[j];
      Component& c = params_[j];
      if (d.categorical) {
        const size_t m = d.dist.choices.size();
        const double fill = opt.prior_weight / static_cast<double>(kernels);
        for (size_t k = 0; k < kernels; ++k) {
          std::vector<double> row(m, fill);
          if (k < n) row[static_cast<size_t>(obs[k][j])] += 1;
          double s = 0;
          for (double x : row) s += x;
          for (double& x : row) x = std::log(x / s);
          c.log_probs.push_back(std::move(row));
        }
        continue;
      }
      for (size_t k = 0; k < n; ++k) c.mu.push_back(obs[k][j]);
      const double range = d.hi - d.lo;
      // The observations' bandwidths, without the prior (as Optuna 4/5, in the joint
      // estimator too): the prior's mean in the middle would halve the middle gaps.
      c.sigma = NeighbourGaps(c.mu, d.lo, d.hi, opt.consider_endpoints);
      const double min_sigma =
          opt.consider_magic_clip ? range / std::min(100.0, 1.0 + kernels) : 1e-12;
      for (double& s : c.sigma) s = std::clamp(s, min_sigma, range);
      c.mu.push_back(0.5 * (d.lo + d.hi));  // the prior
      c.sigma.push_back(range);
      for (size_t k = 0; k < kernels; ++k) {
        c.log_z.push_back(
            LogNormalMass((d.lo - c.mu[k]) / c.sigma[k], (d.hi - c.mu[k]) / c.sigma[k]));
      }
    }
  }

  // One point drawn from the mixture: a kernel by weight, then each dim from it.
  std::vector<double> Sample(std::mt19937_64& rng) const {
    size_t k = Pick(log_weights_, rng);
    std::vector<double> x(dims_.size());
    for (size_t j = 0; j < dims_.size(); ++j) {
      const Dim& d = *dims_[j];
      const Component& c = params_[j];
      if (d.categorical) {
        x[j] = static_cast<double>(Pick(c.log_probs[k], rng));
        continue;
      }
      // Inversion: a uniform draw between the CDF's values at the bounds.
      const double pa = Phi((d.lo - c.mu[k]) / c.sigma[k]), pb = Phi((d.hi - c.mu[k]) / c.sigma[k]);
      const double z = InversePhi(pa + Uniform01(rng) * (pb - pa));
      x[j] = Snap(d, std::clamp(c.mu[k] + c.sigma[k] * z, d.lo, d.hi));
    }
    return x;
  }

  double LogPdf(const std::vector<double>& x) const {
    std::vector<double> per_kernel(log_weights_);
    for (size_t j = 0; j < dims_.size(); ++j) {
      const Dim& d = *dims_[j];
      const Component& c = params_[j];
      for (size_t k = 0; k < per_kernel.size(); ++k) {
        if (d.categorical) {
          per_kernel[k] += c.log_probs[k][static_cast<size_t>(x[j])];
        } else if (d.discrete) {
          const double half = d.dist.q / 2;
          per_kernel[k] += LogNormalMass((x[j] - half - c.mu[k]) / c.sigma[k],
                                         (x[j] + half - c.mu[k]) / c.sigma[k]) -
                           c.log_z[k];
        } else {
          const double z = (x[j] - c.mu[k]) / c.sigma[k];
          per_kernel[k] += -0.5 * z * z - std::log(c.sigma[k] * kSqrt2Pi) - c.log_z[k];
        }
      }
    }
    return LogSumExp(per_kernel);
  }

 private:
  struct Component {
    std::vector<double> mu, sigma, log_z;        // numeric
    std::vector<std::vector<double>> log_probs;  // categorical: [kernel][choice]
  };

  // Univariate bandwidths: each kernel's larger gap to its neighbours (the bounds count
  // as neighbours; with consider_endpoints off, the outermost kernels use their inner gap).
  static std::vector<double> NeighbourGaps(const std::vector<double>& mu, double lo, double hi,
                                           bool consider_endpoints) {
    std::vector<size_t> order(mu.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mu[a] < mu[b]; });
    std::vector<double> s{lo};
    for (size_t i : order) s.push_back(mu[i]);
    s.push_back(hi);
    std::vector<double> sorted_sigma(mu.size());
    for (size_t i = 0; i < mu.size(); ++i)
      sorted_sigma[i] = std::max(s[i + 1] - s[i], s[i + 2] - s[i + 1]);
    if (!consider_endpoints && s.size() >= 4) {
      sorted_sigma.front() = s[2] - s[1];
      sorted_sigma.back() = s[s.size() - 2] - s[s.size() - 3];
    }
    std::vector<double> sigma(mu.size());
    for (size_t i = 0; i < order.size(); ++i) sigma[order[i]] = sorted_sigma[i];
    return sigma;
  }

  static size_t Pick(const std::vector<double>& log_p, std::mt19937_64& rng) {
    double u = Uniform01(rng), acc = 0;
    for (size_t i = 0; i < log_p.size(); ++i) {
      acc += std::exp(log_p[i]);
      if (u < acc) return i;
    }
    return log_p.size() - 1;
  }

  std::vector<const Dim*> dims_;
  std::vector<double> log_weights_;
  std::vector<Component> params_;
};

// ---- observations ------------------------------------------------------------------------

// MOTPE: `ranked` is in groups of equal standing (completed; then stopped, more epochs
// first), each in id order; orders each group by Pareto order of the trials' losses
// (front, then crowding distance, then the first objective, then id).
void ParetoRanked(std::vector<const TpeTrial*>* ranked) {
  const Directions minimize(ranked->front()->losses.size(), spec::Direction::kMinimize);
  auto same_group = [](const TpeTrial* a, const TpeTrial* b) {
    return a->state == b->state &&
           (a->state == TpeTrial::State::kComplete || a->epochs == b->epochs);
  };
  for (size_t begin = 0; begin < ranked->size();) {
    size_t end = begin + 1;
    while (end < ranked->size() && same_group((*ranked)[begin], (*ranked)[end])) ++end;
    std::vector<Point> points;
    for (size_t i = begin; i < end; ++i) points.push_back((*ranked)[i]->losses);
    std::vector<const TpeTrial*> group(ranked->begin() + begin, ranked->begin() + end);
    const std::vector<size_t> order = ParetoOrder(points, minimize, ParetoTieBreak::kCrowding);
    for (size_t k = 0; k < order.size(); ++k) (*ranked)[begin + k] = group[order[k]];
    begin = end;
  }
}

}  // namespace

void TpeSplit(const std::vector<TpeTrial>& trials, std::vector<const TpeTrial*>* below,
              std::vector<const TpeTrial*>* above) {
  std::vector<const TpeTrial*> ranked;
  for (const TpeTrial& t : trials) {
    if (t.state != TpeTrial::State::kRunning) ranked.push_back(&t);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const TpeTrial* a, const TpeTrial* b) {
    if (a->state != b->state) return a->state == TpeTrial::State::kComplete;
    if (a->state == TpeTrial::State::kStopped && a->epochs != b->epochs)
      return a->epochs > b->epochs;
    return a->losses.empty() && a->loss < b->loss;  // MOTPE orders these below
  });
  if (!ranked.empty() && ranked.front()->losses.size() > 1) ParetoRanked(&ranked);
  // gamma counts the finished models only (Optuna ignores running trials there).
  const size_t n_below =
      std::min<size_t>({static_cast<size_t>(std::ceil(0.1 * static_cast<double>(ranked.size()))),
                        25, ranked.size()});
  for (const TpeTrial& t : trials) {
    const bool good =
        std::find(ranked.begin(), ranked.begin() + n_below, &t) != ranked.begin() + n_below;
    (good ? below : above)->push_back(&t);
  }
}

namespace {

// The observations of `trials` on `dims`: only trials that have every one of them.
std::vector<std::vector<double>> Observations(const std::vector<const TpeTrial*>& trials,
                                              const std::vector<const Dim*>& dims) {
  std::vector<std::vector<double>> out;
  for (const TpeTrial* t : trials) {
    std::vector<double> row;
    for (const Dim* d : dims) {
      std::optional<double> x = ToInternal(*d, *t->params);
      if (!x) break;
      row.push_back(*x);
    }
    if (row.size() == dims.size()) out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

struct TpeSampler::Impl {
  Json Propose(const std::vector<TpeTrial>& trials, uint64_t index) const {
    std::vector<Json> values(dims.size());
    // Random until n_startup_trials models have finished, as Optuna counts its complete
    // trials (not proposals): with models in flight the first TPE proposal waits for that
    // many results instead of fitting on fewer.
    const auto finished = std::count_if(trials.begin(), trials.end(), [](const TpeTrial& t) {
      return t.state != TpeTrial::State::kRunning;
    });
    if (finished < options.n_startup_trials || finished == 0) {
      for (size_t j = 0; j < dims.size(); ++j) {  // random search's own draw
        std::mt19937_64 rng(
            DeriveSeed(spec.run.seed, "search.tpe.startup", {index, HashString(dims[j].name)}));
        values[j] = Sample(dims[j].dist, rng);
      }
    } else {
      std::vector<const TpeTrial*> below, above;
      TpeSplit(trials, &below, &above);
      // Multivariate: one joint estimate over the params every model has; a conditional
      // param is estimated on its own, from the models that have it (a joint row needs
      // every param of the row).
      std::vector<size_t> joint;
      if (options.multivariate) {
        for (size_t j = 0; j < dims.size(); ++j) {
          if (!conditional[j]) joint.push_back(j);
        }
        std::vector<const Dim*> all;
        for (size_t j : joint) all.push_back(&dims[j]);
        std::mt19937_64 rng(DeriveSeed(spec.run.seed, "search.tpe", {index}));
        const std::vector<double> x =
            all.empty() ? std::vector<double>{} : BestCandidate(all, below, above, rng);
        for (size_t k = 0; k < joint.size(); ++k) values[joint[k]] = ToValue(dims[joint[k]], x[k]);
      }
      if (joint.size() < dims.size()) {
        for (size_t j = 0; j < dims.size(); ++j) {
          if (options.multivariate && !conditional[j]) continue;
          std::mt19937_64 rng(
              DeriveSeed(spec.run.seed, "search.tpe", {index, HashString(dims[j].name)}));
          values[j] = ToValue(dims[j], BestCandidate({&dims[j]}, below, above, rng)[0]);
        }
      }
    }
    // A proposal holds a param only when its condition holds (spec order: conditions
    // refer to earlier params).
    Json params = Json::object();
    size_t j = 0;
    for (const spec::Param& p : spec.params) {
      const Json* v = p.searched ? &values[j++] : &p.value;
      if (spec::Applies(p, params)) params[p.name] = *v;
    }
    return params;
  }

  // n_ei_candidates draws from l(x); the one with the largest log l(x) - log g(x).
  std::vector<double> BestCandidate(const std::vector<const Dim*>& dims,
                                    const std::vector<const TpeTrial*>& below,
                                    const std::vector<const TpeTrial*>& above,
                                    std::mt19937_64& rng) const {
    const ParzenEstimator l(dims, Observations(below, dims), options);
    const ParzenEstimator g(dims, Observations(above, dims), options);
    std::vector<double> best;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < options.n_ei_candidates; ++i) {
      std::vector<double> c = l.Sample(rng);
      const double score = l.LogPdf(c) - g.LogPdf(c);
      if (best.empty() || score > best_score) {
        best = std::move(c);
        best_score = score;
      }
    }
    return best;
  }

  spec::ExperimentSpec spec;
  TpeOptions options;
  std::vector<Dim> dims;  // the searched params, in spec order
  std::vector<bool> conditional;  // per dim: the param has a condition
};

TpeSampler::TpeSampler(const spec::ExperimentSpec& spec, TpeOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->spec = spec;
  impl_->options = options;
  for (const spec::Param& p : spec.params) {
    if (!p.searched) continue;
    impl_->dims.push_back(MakeDim(p));
    impl_->conditional.push_back(!p.when.empty());
  }
}
TpeSampler::~TpeSampler() = default;
TpeSampler::TpeSampler(TpeSampler&&) noexcept = default;
TpeSampler& TpeSampler::operator=(TpeSampler&&) noexcept = default;

Json TpeSampler::Propose(const std::vector<TpeTrial>& trials, uint64_t index) const {
  return impl_->Propose(trials, index);
}

}  // namespace cerebro::search

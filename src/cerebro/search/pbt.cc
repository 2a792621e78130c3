#include "cerebro/search/pbt.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "cerebro/common/rng.h"
#include "cerebro/search/space.h"

namespace cerebro::search {
namespace {

using spec::Json;
using Kind = spec::Distribution::Kind;

std::string Short(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}

Status BadOption(const std::string& key, const std::string& expected, const Json& got) {
  return InvalidArgument("search." + key + ": expected " + expected + ", got " + got.dump());
}

Status ReadInt(const Json& options, const std::string& key, int min, int* out) {
  auto it = options.find(key);
  if (it == options.end()) return Status::Ok();
  if (!it->is_number_integer() || it->get<int64_t>() < min ||
      it->get<int64_t>() > std::numeric_limits<int>::max()) {
    return BadOption(key, "an integer >= " + std::to_string(min), *it);
  }
  *out = it->get<int>();
  return Status::Ok();
}

Status ReadFraction(const Json& options, const std::string& key, double max, double* out) {
  auto it = options.find(key);
  if (it == options.end()) return Status::Ok();
  if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= max)) {
    return BadOption(key, "a number in [0, " + Short(max) + "]", *it);
  }
  *out = it->get<double>();
  return Status::Ok();
}

// Bigger is better, whatever the metric's direction.
double Score(const spec::MetricSpec& metric, const EpochMetrics& e) {
  const double v = MetricValue(e, metric.name);
  return metric.direction == spec::Direction::kMaximize ? v : -v;
}

// A number explored by a factor: quantized as its distribution, inside its bounds.
Json Perturbed(const spec::Distribution& d, double x) {
  const bool log = d.kind == Kind::kLogUniform || d.kind == Kind::kQLogUniform;
  const double lo = log ? std::pow(10.0, d.low) : d.low;
  const double hi = log ? std::pow(10.0, d.high) : d.high;
  if (d.kind == Kind::kQUniform || d.kind == Kind::kQLogUniform) {
    // The in-range multiples of q nearest to x (as space.cc's Sample keeps them).
    const double first = std::ceil(lo / d.q - 1e-9) * d.q;
    const double last = std::floor(hi / d.q + 1e-9) * d.q;
    x = std::clamp(std::round(x / d.q) * d.q, first, std::max(first, last));
    if (d.integer) return Json(static_cast<int64_t>(std::llround(x)));
    return Json(x);
  }
  return Json(std::clamp(x, lo, hi));
}

// A member of the population: its id and the epochs its ancestors trained before it was
// added (its own history continues from there).
struct Member {
  ModelId id = -1;
  int offset = 0;
};

class PbtProcedure final : public Procedure {
 public:
  PbtProcedure(spec::ExperimentSpec spec, PbtOptions options, std::vector<ModelConfig> configs)
      : spec_(std::move(spec)),
        options_(std::move(options)),
        configs_(std::move(configs)),
        boundaries_(PbtBoundaries(options_, spec_.run.epochs)) {}

  StatusOr<std::vector<Decision>> Start(const Observation& run) override {
    ModelId id = FirstNewId(run);
    round_ = 0;
    members_.clear();
    std::vector<Decision> out;
    for (const ModelConfig& c : configs_) {
      out.push_back(AddModel{c.params, NextBoundary(), -1});
      members_.push_back({id++, 0});
    }
    return out;
  }

  // Only the barrier matters, not which model finished.
  StatusOr<std::vector<Decision>> OnEpochDone(const Observation& run, ModelId) override {
    return Decide(run);
  }
  // A member that failed or that the user stopped leaves the population; the round's
  // barrier may be complete without it.
  StatusOr<std::vector<Decision>> OnModelEnded(const Observation& run, ModelId) override {
    return Decide(run);
  }

  // {"round": index of the next boundary to decide, "members": [[id, offset], ...]}.
  Json SaveState() const override {
    Json members = Json::array();
    for (const Member& m : members_) members.push_back(Json::array({m.id, m.offset}));
    return Json{{"round", round_}, {"members", std::move(members)}};
  }

  Status RestoreState(const Json& state) override {
    const Status bad = DataLoss("pbt: the journaled procedure state does not fit the spec");
    if (!state.is_object() || !state.contains("round") || !state["round"].is_number_integer() ||
        !state.contains("members") || !state["members"].is_array()) {
      return bad;
    }
    const int round = state["round"].get<int>();
    if (round < 0 || round > static_cast<int>(boundaries_.size())) return bad;
    std::vector<Member> members;
    for (const Json& m : state["members"]) {
      if (!m.is_array() || m.size() != 2 || !m[0].is_number_integer() ||
          !m[1].is_number_integer()) {
        return bad;
      }
      members.push_back({m[0].get<ModelId>(), m[1].get<int>()});
    }
    round_ = round;
    members_ = std::move(members);
    return Status::Ok();
  }

 private:
  // The total epochs the population trains to before it is next ranked.
  int NextBoundary() const {
    return round_ < static_cast<int>(boundaries_.size()) ? boundaries_[round_] : spec_.run.epochs;
  }

  std::vector<Decision> Decide(const Observation& run) {
    if (round_ >= static_cast<int>(boundaries_.size())) return {};
    const int t = boundaries_[round_];
    std::vector<std::pair<double, Member>> done;  // (score, member) of the round's finishers
    std::vector<Decision> short_of;  // members that completed before the boundary
    for (const Member& member : members_) {
      const ModelView* m = FindModel(run, member.id);
      if (m == nullptr) return {};  // not added yet: the state is ahead of the run
      if (m->status == ModelStatus::kFailed || m->status == ModelStatus::kStopped) continue;
      if (IsLive(m->status)) return {};  // not yet
      if (member.offset + static_cast<int>(m->history.size()) < t) {
        short_of.push_back(ExtendModel{member.id, t - member.offset});
        continue;
      }
      done.emplace_back(Score(spec_.metric, m->history.back()), member);
    }
    // The whole population completed short of the boundary: the run was extended to more
    // epochs (cerebro run --extend) than the last boundary it was made for. It trains on
    // to the boundary first. Mixed with members at it, the view is stale: not yet.
    if (!short_of.empty()) return done.empty() ? short_of : std::vector<Decision>{};
    // Best first; ties by id, so the ranking is a function of the metrics alone.
    std::sort(done.begin(), done.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second.id < y.second.id;
    });
    const int n = static_cast<int>(done.size());
    const int k = PbtQuantileSize(n, options_.quantile_fraction);
    // One stream per round: a resumed run redraws exactly what the round drew.
    std::mt19937_64 rng(DeriveSeed(spec_.run.seed, "pbt.exploit", {static_cast<uint64_t>(round_)}));
    ++round_;
    const int next = NextBoundary();
    ModelId next_id = FirstNewId(run);
    std::vector<Decision> out;
    std::vector<Member> members;
    for (int i = 0; i < n; ++i) {
      const Member& member = done[static_cast<size_t>(i)].second;
      const ModelView& view = *FindModel(run, member.id);
      if (i < n - k) {
        if (member.offset + view.epochs < next) {
          out.push_back(ExtendModel{member.id, next - member.offset});
        }
        members.push_back(member);
        continue;
      }
      const ModelView& source = *FindModel(run, done[UniformBelow(rng, k)].second.id);
      Json params = PbtExplore(spec_, options_, source.params, rng);
      const ModelId id = next_id++;
      out.push_back(StopModel{
          member.id, "pbt: epoch " + std::to_string(t) + ": " + spec_.metric.name + " " +
                         Short(std::abs(done[static_cast<size_t>(i)].first)) +
                         " in the bottom " + std::to_string(k) + " of " + std::to_string(n) +
                         "; replaced by model " + std::to_string(id) + ", a copy of model " +
                         std::to_string(source.id) + " with " + params.dump()});
      out.push_back(AddModel{std::move(params), next - t, source.id});
      members.push_back({id, t});
    }
    members_ = std::move(members);
    return out;
  }

  spec::ExperimentSpec spec_;
  PbtOptions options_;
  std::vector<ModelConfig> configs_;
  std::vector<int> boundaries_;
  int round_ = 0;
  std::vector<Member> members_;
};

}  // namespace

StatusOr<PbtOptions> ParsePbtOptions(const spec::ExperimentSpec& spec) {
  static const char* const kKnown[] = {"perturbation_interval", "quantile_fraction",
                                       "resample_probability", "perturbation_factors",
                                       "burn_in_period"};
  const Json& options = spec.search.options;
  for (auto it = options.begin(); it != options.end(); ++it) {
    if (std::find(std::begin(kKnown), std::end(kKnown), it.key()) == std::end(kKnown)) {
      return InvalidArgument("search." + it.key() +
                             ": not an option of pbt (expected one of perturbation_interval, "
                             "quantile_fraction, resample_probability, perturbation_factors, "
                             "burn_in_period)");
    }
  }
  PbtOptions o;
  RETURN_IF_ERROR(ReadInt(options, "perturbation_interval", 1, &o.perturbation_interval));
  RETURN_IF_ERROR(ReadFraction(options, "quantile_fraction", 0.5, &o.quantile_fraction));
  RETURN_IF_ERROR(ReadFraction(options, "resample_probability", 1, &o.resample_probability));
  RETURN_IF_ERROR(ReadInt(options, "burn_in_period", 0, &o.burn_in_period));
  if (auto it = options.find("perturbation_factors"); it != options.end()) {
    const std::string expected = "a non-empty list of positive numbers";
    if (!it->is_array() || it->empty()) return BadOption("perturbation_factors", expected, *it);
    o.perturbation_factors.clear();
    for (const Json& f : *it) {
      if (!f.is_number() || !(f.get<double>() > 0) || !std::isfinite(f.get<double>())) {
        return BadOption("perturbation_factors", expected, *it);
      }
      o.perturbation_factors.push_back(f.get<double>());
    }
  }
  return o;
}

std::vector<int> PbtBoundaries(const PbtOptions& options, int epochs) {
  std::vector<int> out;
  for (int t = options.perturbation_interval; t < epochs; t += options.perturbation_interval) {
    if (t >= options.burn_in_period) out.push_back(t);
  }
  return out;
}

int PbtQuantileSize(int n, double quantile_fraction) {
  const int k = static_cast<int>(std::ceil(n * quantile_fraction - 1e-9));
  return std::min(k, n / 2);
}

Json PbtExplore(const spec::ExperimentSpec& spec, const PbtOptions& options, const Json& params,
                std::mt19937_64& rng) {
  // Built in spec order, so a param that becomes active sits where the space puts it; a
  // condition names an earlier param, whose explored value is already in `out`.
  Json out = Json::object();
  for (const spec::Param& p : spec.params) {
    // Inactive under the explored parents: dropped, and no draw is spent on it.
    if (!spec::Applies(p, out)) continue;
    const auto old = params.find(p.name);
    if (!p.searched) {
      out[p.name] = old != params.end() ? *old : p.value;
      continue;
    }
    const spec::Distribution& d = p.dist;
    const bool resample = Uniform01(rng) < options.resample_probability;
    if (d.kind == Kind::kChoice) {
      const auto at = old == params.end()
                          ? d.choices.end()
                          : std::find(d.choices.begin(), d.choices.end(), *old);
      if (resample || at == d.choices.end()) {
        out[p.name] = d.choices[UniformBelow(rng, d.choices.size())];
        continue;
      }
      const int64_t last = static_cast<int64_t>(d.choices.size()) - 1;
      const int64_t moved = (at - d.choices.begin()) + (UniformBelow(rng, 2) == 0 ? -1 : 1);
      out[p.name] = d.choices[static_cast<size_t>(std::clamp<int64_t>(moved, 0, last))];
      continue;
    }
    // Newly active (absent from the parent): drawn from its prior.
    if (resample || old == params.end() || !old->is_number()) {
      out[p.name] = Sample(d, rng);
      continue;
    }
    const double factor =
        options.perturbation_factors[UniformBelow(rng, options.perturbation_factors.size())];
    out[p.name] = Perturbed(d, old->get<double>() * factor);
  }
  // Params the spec does not name (a model `cerebro ctl add` gave extra keys) stay as they are.
  for (auto it = params.begin(); it != params.end(); ++it) {
    const bool named = std::any_of(spec.params.begin(), spec.params.end(),
                                   [&](const spec::Param& p) { return p.name == it.key(); });
    if (!named) out[it.key()] = it.value();
  }
  return out;
}

StatusOr<std::unique_ptr<Procedure>> MakePbtProcedure(const spec::ExperimentSpec& spec) {
  ASSIGN_OR_RETURN(PbtOptions options, ParsePbtOptions(spec));
  if (spec.search.num_models < 2) {
    return InvalidArgument("search.num_models: pbt needs a population of num_models >= 2");
  }
  ASSIGN_OR_RETURN(std::vector<ModelConfig> configs, GenerateConfigs(spec));
  return std::unique_ptr<Procedure>(
      std::make_unique<PbtProcedure>(spec, std::move(options), std::move(configs)));
}

}  // namespace cerebro::search

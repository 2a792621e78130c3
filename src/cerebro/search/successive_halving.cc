#include "cerebro/search/successive_halving.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "cerebro/search/successive_halving_internal.h"

// What ASHA and Hyperband share (successive_halving_internal.h); the procedures are in
// asha.cc and hyperband.cc.
namespace cerebro::search {
namespace {

using spec::Json;

std::string Join(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// The method's knobs: only `known` keys, each checked where it is read.
Status NoUnknownKeys(const spec::ExperimentSpec& spec, const std::vector<std::string>& known) {
  for (auto it = spec.search.options.begin(); it != spec.search.options.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      return InvalidArgument("search." + it.key() + ": not an option of " +
                             std::string(EnumName(spec.search.method)) + " (expected one of " +
                             Join(known) + ")");
    }
  }
  return Status::Ok();
}

// The knobs of a method with `known` keys of its own, and search.sampler's: its TPE knobs
// only with sampler tpe.
Status CheckKeys(const spec::ExperimentSpec& spec, std::vector<std::string> known,
                 Sampler sampler) {
  known.push_back("sampler");
  for (const std::string& k : BohbOptionKeys()) {
    if (sampler == Sampler::kTpe) {
      known.push_back(k);
    } else if (spec.search.options.contains(k)) {
      return InvalidArgument("search." + k + ": only used with search.sampler: tpe");
    }
  }
  return NoUnknownKeys(spec, known);
}

}  // namespace

Status ReadSampler(const spec::ExperimentSpec& spec, const std::vector<std::string>& known,
                   Sampler* sampler, TpeOptions* tpe) {
  ASSIGN_OR_RETURN(*sampler, ParseSampler(spec.search.options));
  RETURN_IF_ERROR(CheckKeys(spec, known, *sampler));
  if (*sampler == Sampler::kTpe) {
    ASSIGN_OR_RETURN(*tpe, ParseBohbOptions(spec.search.options));
  }
  return Status::Ok();
}

Status ReadInt(const Json& options, const std::string& key, int min, int* out) {
  auto it = options.find(key);
  if (it == options.end()) return Status::Ok();
  if (!it->is_number_integer() || it->get<int64_t>() < min ||
      it->get<int64_t>() > std::numeric_limits<int>::max()) {
    return InvalidArgument("search." + key + ": expected an integer >= " + std::to_string(min) +
                           ", got " + it->dump());
  }
  *out = it->get<int>();
  return Status::Ok();
}

Status ReadNumber(const Json& options, const std::string& key, double min, bool min_excluded,
                  double* out) {
  auto it = options.find(key);
  if (it == options.end()) return Status::Ok();
  const bool ok = it->is_number() && std::isfinite(it->get<double>()) &&
                  (min_excluded ? it->get<double>() > min : it->get<double>() >= min);
  if (!ok) {
    char bound[32];
    std::snprintf(bound, sizeof bound, "%g", min);
    return InvalidArgument("search." + key + ": expected a number " + (min_excluded ? ">" : ">=") +
                           " " + bound + ", got " + it->dump());
  }
  *out = it->get<double>();
  return Status::Ok();
}

std::string Short(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}
Scorer ScorerFor(const spec::ExperimentSpec& spec) {
  return Scorer{spec.metric.name, spec.metric.direction, spec::Objectives(spec)};
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double h = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= v.size()) return v.back();
  const double t = h - static_cast<double>(lo);
  // numpy's _lerp: from the nearer end, so t = 1 gives b exactly.
  return t < 0.5 ? v[lo] + (v[lo + 1] - v[lo]) * t : v[lo + 1] - (v[lo + 1] - v[lo]) * (1 - t);
}

StatusOr<std::vector<ModelConfig>> SampleConfigs(const spec::ExperimentSpec& spec, int n) {
  spec::ExperimentSpec sampled = spec;
  sampled.search.num_models = n;
  return GenerateConfigs(sampled);
}

StatusOr<std::vector<ModelConfig>> GridConfigs(const spec::ExperimentSpec& spec) {
  for (const spec::Param& p : spec.params) {
    if (p.searched && p.dist.kind != spec::Distribution::Kind::kChoice) {
      return InvalidArgument("search.sampler: grid needs 'choice' params (params." + p.name +
                             " is '" + std::string(EnumName(p.dist.kind)) +
                             "'); use sampler random or tpe");
    }
  }
  spec::ExperimentSpec grid = spec;
  grid.search.method = spec::SearchMethod::kGrid;
  grid.search.num_models = 0;
  grid.search.options = Json::object();
  ASSIGN_OR_RETURN(std::vector<ModelConfig> configs, GenerateConfigs(grid));
  if (spec.search.num_models != 0 &&
      spec.search.num_models != static_cast<int>(configs.size())) {
    return InvalidArgument("search.num_models: " + std::to_string(spec.search.num_models) +
                           " differs from the grid's " + std::to_string(configs.size()) +
                           " configurations (search.sampler: grid; leave num_models out)");
  }
  return configs;
}
int RunnableTarget(int slots) { return std::max(1, slots) + std::max(1, slots) / 4 + 1; }

int Runnable(const Observation& run, const std::vector<ModelId>& ours,
             const std::vector<Decision>& out) {
  int n = 0;
  for (ModelId id : ours) {
    const ModelView* m = FindModel(run, id);
    bool live = m != nullptr && IsLive(m->status);
    for (const Decision& d : out) {
      if (const auto* stop = std::get_if<StopModel>(&d); stop && stop->model == id) live = false;
      if (const auto* x = std::get_if<ExtendModel>(&d); x && x->model == id) live = true;
    }
    n += live;
  }
  return n;
}

StatusOr<Sampler> ParseSampler(const Json& options) {
  auto it = options.find("sampler");
  if (it == options.end()) return Sampler::kRandom;
  if (it->is_string()) {
    if (*it == "random") return Sampler::kRandom;
    if (*it == "grid") return Sampler::kGrid;
    if (*it == "tpe") return Sampler::kTpe;
  }
  return InvalidArgument("search.sampler: expected random, grid or tpe, got " + it->dump());
}
int ExtendsCompletedModelsBelow(const spec::ExperimentSpec& spec) {
  // PBT extends every completed member that is not replaced, until run.epochs.
  if (spec.search.method == spec::SearchMethod::kPbt) return spec.run.epochs;
  // ASHA promotes a model waiting at a rung by extending it, up to max_t.
  if (spec.search.method == spec::SearchMethod::kAsha) {
    auto options = ParseAshaOptions(spec);
    return options.ok() ? options->max_t : 0;
  }
  if (spec.search.method != spec::SearchMethod::kHyperband) return 0;
  auto options = ParseHyperbandOptions(spec);
  return options.ok() ? options->max_t : 0;
}

bool TrainsLowestIdFirst(const spec::ExperimentSpec& spec) {
  return spec.search.method == spec::SearchMethod::kAsha;
}

}  // namespace cerebro::search


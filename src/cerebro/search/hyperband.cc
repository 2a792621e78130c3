// Hyperband (successive_halving.h): the procedure, its brackets, and its knobs.
#include <algorithm>
#include <cmath>
#include <string>

#include "cerebro/search/successive_halving.h"
#include "cerebro/search/successive_halving_internal.h"

namespace cerebro::search {
namespace {

using spec::Json;

// ---- Hyperband -------------------------------------------------------------------------

// All brackets start at once (their first rungs are the models of the run). A rung is
// decided when none of its models is live: the best completed ones are extended to the
// next rung's epochs, the other completed ones stopped.
//
// search.sampler: tpe fills the brackets' first rungs lazily instead, in bracket order (the
// most models at the fewest epochs first), one proposal (BohbSampler over all brackets'
// rung epochs) whenever fewer than RunnableTarget of the models are runnable; a first rung
// is decided once it is full and none of its models is live. BOHB starts a bracket's
// models together, each bracket after the previous one; here MOP's workers stay busy
// across brackets (no bracket-wide barrier on the whole run), and each proposal sees every
// result in by then, not only those in when its bracket began.
class HyperbandProcedure final : public Procedure {
 public:
  // `configs`: the brackets' first rungs in order (random, grid); empty with `bohb`.
  HyperbandProcedure(std::vector<HyperbandBracket> brackets, std::vector<ModelConfig> configs,
                     Scorer scorer, std::unique_ptr<BohbSampler> bohb = nullptr)
      : brackets_(std::move(brackets)),
        configs_(std::move(configs)),
        scorer_(std::move(scorer)),
        bohb_(std::move(bohb)),
        progress_(brackets_.size()) {}

  StatusOr<std::vector<Decision>> Start(const Observation& run) override {
    ModelId id = FirstNewId(run);
    size_t next_config = 0;
    std::vector<Decision> out;
    for (size_t b = 0; b < brackets_.size(); ++b) {
      progress_[b] = {0, {}};
      for (int j = 0; bohb_ == nullptr && j < brackets_[b].models[0]; ++j) {
        out.push_back(AddModel{configs_[next_config++].params, brackets_[b].epochs[0], -1});
        progress_[b].members.push_back(id++);
      }
    }
    proposed_ = 0;
    Propose(run, &out);
    return out;
  }

  // Every bracket is looked at, not only the model's.
  StatusOr<std::vector<Decision>> OnEpochDone(const Observation& run, ModelId) override {
    std::vector<Decision> out;
    for (size_t b = 0; b < brackets_.size(); ++b) Decide(run, b, &out);
    Propose(run, &out);
    return out;
  }
  // A rung whose last live model failed or was stopped by the user is decided now.
  StatusOr<std::vector<Decision>> OnModelEnded(const Observation& run, ModelId model) override {
    return OnEpochDone(run, model);
  }

  // {"brackets": [{"rung": i, "members": [model ids at rung i]}, ...]}.
  Json SaveState() const override {
    Json brackets = Json::array();
    for (const Progress& p : progress_) {
      brackets.push_back(Json{{"rung", p.rung}, {"members", p.members}});
    }
    Json state = {{"brackets", std::move(brackets)}};
    if (bohb_ != nullptr) state["proposed"] = proposed_;
    return state;
  }

  Status RestoreState(const Json& state) override {
    const Status bad = DataLoss("hyperband: the journaled procedure state does not fit the spec");
    if (!state.is_object() || !state.contains("brackets")) return bad;
    const Json& brackets = state["brackets"];
    if (!brackets.is_array() || brackets.size() != brackets_.size()) return bad;
    for (size_t b = 0; b < brackets.size(); ++b) {
      const Json& p = brackets[b];
      if (!p.is_object() || !p.contains("rung") || !p["rung"].is_number_integer() ||
          !p.contains("members") || !p["members"].is_array()) {
        return bad;
      }
      const int rung = p["rung"].get<int>();
      if (rung < 0 || rung >= static_cast<int>(brackets_[b].epochs.size())) return bad;
      progress_[b].rung = rung;
      progress_[b].members.clear();
      for (const Json& id : p["members"]) {
        if (!id.is_number_integer()) return bad;
        progress_[b].members.push_back(id.get<ModelId>());
      }
    }
    if (bohb_ != nullptr) {
      if (!state.contains("proposed") || !state["proposed"].is_number_integer()) return bad;
      proposed_ = state["proposed"].get<int64_t>();
    }
    return Status::Ok();
  }

 private:
  struct Progress {
    int rung = 0;
    std::vector<ModelId> members;  // the models at this rung
  };

  void Decide(const Observation& run, size_t b, std::vector<Decision>* out) {
    const HyperbandBracket& bracket = brackets_[b];
    Progress& p = progress_[b];
    if (p.rung + 1 >= static_cast<int>(bracket.epochs.size()) || p.members.empty()) return;
    if (p.rung == 0 && static_cast<int>(p.members.size()) < bracket.models[0]) return;  // tpe
    const int epochs = bracket.epochs[p.rung];
    std::vector<std::pair<const EpochMetrics*, ModelId>> done;  // the rung's completed models
    for (ModelId id : p.members) {
      const ModelView* m = FindModel(run, id);
      if (m == nullptr) return;  // not added yet: the state is ahead of the run
      if (m->status == ModelStatus::kFailed || m->status == ModelStatus::kStopped) continue;
      // Live, or shown completed at a smaller budget than the rung's (a stale view).
      if (m->status != ModelStatus::kCompleted || static_cast<int>(m->history.size()) < epochs) {
        return;
      }
      done.emplace_back(&m->history.back(), id);
    }
    // In id order, so that Order's ties go to the lower id.
    std::sort(done.begin(), done.end(),
              [](const auto& x, const auto& y) { return x.second < y.second; });
    std::vector<const EpochMetrics*> metrics;
    for (const auto& d : done) metrics.push_back(d.first);
    std::vector<std::pair<const EpochMetrics*, ModelId>> by_id = std::move(done);
    done.clear();
    for (size_t i : scorer_.Order(metrics)) done.push_back(by_id[i]);
    const size_t keep = std::min(done.size(), static_cast<size_t>(bracket.models[p.rung + 1]));
    p.members.clear();
    for (size_t i = 0; i < done.size(); ++i) {
      if (i < keep) {
        out->push_back(ExtendModel{done[i].second, bracket.epochs[p.rung + 1]});
        p.members.push_back(done[i].second);
      } else {
        out->push_back(StopModel{done[i].second,
                                 "hyperband: bracket " + std::to_string(bracket.s) + ", rung " +
                                     std::to_string(epochs) + " epochs: not in the top " +
                                     std::to_string(keep) + " of " + std::to_string(done.size()) +
                                     (scorer_.pareto() ? " by Pareto rank" : "")});
      }
    }
    ++p.rung;
  }

  // search.sampler: tpe: the next first-rung models, while fewer than RunnableTarget of
  // the brackets' current models are runnable.
  void Propose(const Observation& run, std::vector<Decision>* out) {
    if (bohb_ == nullptr) return;
    std::vector<ModelId> ours;
    for (const Progress& p : progress_) ours.insert(ours.end(), p.members.begin(), p.members.end());
    size_t b = 0;  // the bracket the next proposal joins
    Refill(
        *bohb_, run, ours, &proposed_,
        [&](int* epochs) {
          while (b < brackets_.size() &&
                 (progress_[b].rung > 0 ||
                  static_cast<int>(progress_[b].members.size()) >= brackets_[b].models[0])) {
            ++b;
          }
          if (b == brackets_.size()) return false;
          *epochs = brackets_[b].epochs[0];
          return true;
        },
        [&](ModelId id) { progress_[b].members.push_back(id); }, out);
  }

  std::vector<HyperbandBracket> brackets_;
  std::vector<ModelConfig> configs_;
  Scorer scorer_;
  std::unique_ptr<BohbSampler> bohb_;  // search.sampler: tpe; null otherwise
  std::vector<Progress> progress_;     // by bracket
  int64_t proposed_ = 0;               // search.sampler: tpe: models proposed so far
};
}  // namespace

StatusOr<HyperbandOptions> ParseHyperbandOptions(const spec::ExperimentSpec& spec) {
  HyperbandOptions o;
  RETURN_IF_ERROR(ReadSampler(spec, {"max_t", "eta", "reduction_factor"}, &o.sampler, &o.tpe));
  const Json& options = spec.search.options;
  if (options.contains("eta") && options.contains("reduction_factor")) {
    return InvalidArgument("search.reduction_factor: the same knob as search.eta; give one");
  }
  o.max_t = spec.run.epochs;
  RETURN_IF_ERROR(ReadInt(options, "max_t", 1, &o.max_t));
  // eta >= 2 keeps every rung's budget above the previous one's after flooring.
  const std::string eta_key = options.contains("reduction_factor") ? "reduction_factor" : "eta";
  RETURN_IF_ERROR(ReadNumber(options, eta_key, 2, /*min_excluded=*/false, &o.eta));
  return o;
}

std::vector<HyperbandBracket> HyperbandBrackets(const HyperbandOptions& o) {
  const int s_max = static_cast<int>(std::floor(std::log(o.max_t) / std::log(o.eta) + kSlack));
  std::vector<HyperbandBracket> out;
  for (int s = s_max; s >= 0; --s) {
    HyperbandBracket b;
    b.s = s;
    const double n = std::ceil((s_max + 1.0) / (s + 1.0) * std::pow(o.eta, s) - kSlack);
    for (int i = 0; i <= s; ++i) {
      b.models.push_back(
          std::max(1, static_cast<int>(std::floor(n * std::pow(o.eta, -i) + kSlack))));
      b.epochs.push_back(i == s ? o.max_t
                                : std::max(1, static_cast<int>(std::floor(
                                                  o.max_t * std::pow(o.eta, i - s) + kSlack))));
    }
    out.push_back(std::move(b));
  }
  return out;
}
StatusOr<std::unique_ptr<Procedure>> MakeHyperbandProcedure(const spec::ExperimentSpec& spec) {
  ASSIGN_OR_RETURN(HyperbandOptions options, ParseHyperbandOptions(spec));
  if (spec.search.num_models != 0 && options.sampler != Sampler::kGrid) {
    return InvalidArgument("search.num_models: hyperband sizes its brackets from max_t and eta");
  }
  std::vector<HyperbandBracket> brackets = HyperbandBrackets(options);
  int total = 0;
  for (const HyperbandBracket& b : brackets) total += b.models[0];
  std::vector<ModelConfig> configs;
  if (options.sampler == Sampler::kGrid) {
    ASSIGN_OR_RETURN(configs, GridConfigs(spec));
    if (static_cast<int>(configs.size()) != total) {
      return InvalidArgument("search.sampler: grid has " + std::to_string(configs.size()) +
                             " configurations but hyperband's brackets (max_t " +
                             std::to_string(options.max_t) + ", eta " + Short(options.eta) +
                             ") take " + std::to_string(total));
    }
  } else if (options.sampler == Sampler::kRandom) {
    ASSIGN_OR_RETURN(configs, SampleConfigs(spec, total));
  }
  std::unique_ptr<BohbSampler> bohb;
  if (options.sampler == Sampler::kTpe) {
    std::vector<int> budgets;
    for (const HyperbandBracket& b : brackets) {
      budgets.insert(budgets.end(), b.epochs.begin(), b.epochs.end());
    }
    bohb = std::make_unique<BohbSampler>(spec, options.tpe, std::move(budgets));
  }
  return std::unique_ptr<Procedure>(std::make_unique<HyperbandProcedure>(
      std::move(brackets), std::move(configs), ScorerFor(spec), std::move(bohb)));
}
}  // namespace cerebro::search

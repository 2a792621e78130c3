// ASHA (successive_halving.h): the procedure, its brackets and rungs, and its knobs.
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>

#include "cerebro/common/rng.h"
#include "cerebro/search/successive_halving.h"
#include "cerebro/search/successive_halving_internal.h"

namespace cerebro::search {
namespace {

using spec::Json;

// ---- ASHA ------------------------------------------------------------------------------

// The whole epoch at which ASHA records a rung: the first that reaches its milestone.
int RungEpoch(double milestone, int max_t) {
  return std::clamp(static_cast<int>(std::ceil(milestone - kSlack)), 1, max_t);
}

// Ray's ASHA records a model's score at the highest rung it has reached (and not yet been
// recorded at) at each of its epoch boundaries, and stops it when that score is below the
// (1 - 1/rf) quantile of the scores the rung recorded before it: "before" is the order in
// which models arrive, which timing and the number of workers decide. Here a rung takes
// its models' results in model-id order instead: model m's score at a rung is compared
// with those of the lower-id models of its bracket that reached the rung, once each of
// them has reached it or ended short of it. Every decision is then a function of the
// models' metrics alone (the same stops and promotions with 1 worker or 8, after any
// resume), and equals what Ray's rule decides when models arrive in id order.
//
// To make a late decision land where an on-time one would have, a model's epoch budget
// ends at its next rung: it waits there (completed, its state kept by retention:
// ExtendsCompletedModelsBelow) until its turn, and is then stopped or extended to the next
// rung (max_t after the last). No rung barrier: the lowest-id undecided model of a bracket
// never waits, so a worker idles only when no model can train, and a model waits at most
// for the lower-id models of its own bracket to reach its rung.
//
// search.sampler: tpe adds the models lazily instead (Refill): RunnableTarget of them
// runnable, each proposed by BohbSampler over the rungs' epochs, until num_models. The
// rungs' rule is the same, but which configurations there are then depends on timing
// (successive_halving.h), so the guarantee above holds for random and grid only.
class AshaProcedure final : public Procedure {
 public:
  // `configs`: every model's (random, grid); empty with `bohb`, which proposes
  // bracket_of.size() models.
  AshaProcedure(AshaOptions options, std::vector<ModelConfig> configs, std::vector<int> bracket_of,
                Scorer scorer, std::unique_ptr<BohbSampler> bohb = nullptr)
      : options_(options),
        configs_(std::move(configs)),
        bracket_of_(std::move(bracket_of)),
        scorer_(std::move(scorer)),
        bohb_(std::move(bohb)) {
    members_.resize(static_cast<size_t>(options_.brackets));
    for (size_t i = 0; i < bracket_of_.size(); ++i) members_[bracket_of_[i]].push_back(i);
    for (int s = 0; s < options_.brackets; ++s) {
      milestones_.push_back(AshaRungs(options_, s));
      recorded_.emplace_back(milestones_.back().size());
      // A rung is recorded at the first whole epoch that reaches its milestone; of rungs
      // reached at the same epoch, Ray records only the highest.
      std::vector<Rung> rungs;
      for (size_t k = 0; k < milestones_.back().size(); ++k) {
        const int epoch = RungEpoch(milestones_.back()[k], options_.max_t);
        if (!rungs.empty() && rungs.back().epoch == epoch) rungs.pop_back();
        rungs.push_back({epoch, k});
      }
      rungs_.push_back(std::move(rungs));
    }
  }

  StatusOr<std::vector<Decision>> Start(const Observation& run) override {
    first_id_ = FirstNewId(run);
    ids_.clear();
    std::vector<Decision> out;
    if (bohb_ != nullptr) {
      Propose(run, &out);
      return out;
    }
    for (size_t i = 0; i < configs_.size(); ++i) {
      out.push_back(AddModel{configs_[i].params, FirstBudget(i), -1});
      ids_.push_back(first_id_ + static_cast<ModelId>(i));
    }
    return out;
  }

  // Any model's epoch may be the one a waiting model's turn depended on.
  StatusOr<std::vector<Decision>> OnEpochDone(const Observation& run, ModelId) override {
    std::vector<Decision> out = Decide(run);
    Propose(run, &out);
    return out;
  }
  // A model that ended short of a rung no longer holds up the models after it.
  StatusOr<std::vector<Decision>> OnModelEnded(const Observation& run, ModelId model) override {
    return OnEpochDone(run, model);
  }

  // {"first_id": id, "rungs": [bracket][rung] = [[model, score], ...] in recording order}.
  Json SaveState() const override {
    Json rungs = Json::array();
    for (const auto& bracket : recorded_) {
      Json b = Json::array();
      for (const auto& rung : bracket) {
        Json r = Json::array();
        for (const auto& [id, score] : rung) r.push_back(Json::array({id, score}));
        b.push_back(std::move(r));
      }
      rungs.push_back(std::move(b));
    }
    Json state = {{"first_id", first_id_}, {"rungs", std::move(rungs)}};
    if (bohb_ != nullptr) state["ids"] = ids_;  // the models it proposed, in order
    return state;
  }

  Status RestoreState(const Json& state) override {
    const Status bad = DataLoss("asha: the journaled procedure state does not fit the spec");
    if (!state.is_object() || !state.contains("first_id") || !state.contains("rungs")) return bad;
    const Json& rungs = state["rungs"];
    if (!state["first_id"].is_number_integer() || !rungs.is_array() ||
        rungs.size() != recorded_.size()) {
      return bad;
    }
    for (size_t s = 0; s < rungs.size(); ++s) {
      if (!rungs[s].is_array() || rungs[s].size() != recorded_[s].size()) return bad;
      for (size_t k = 0; k < rungs[s].size(); ++k) {
        recorded_[s][k].clear();
        for (const Json& r : rungs[s][k]) {
          if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number()) {
            return bad;
          }
          recorded_[s][k].emplace_back(r[0].get<ModelId>(), r[1].get<double>());
        }
      }
    }
    first_id_ = state["first_id"].get<ModelId>();
    ids_.clear();
    if (bohb_ == nullptr) {
      for (size_t i = 0; i < configs_.size(); ++i)
        ids_.push_back(first_id_ + static_cast<ModelId>(i));
      return Status::Ok();
    }
    const Json& ids = state.contains("ids") ? state["ids"] : Json();
    if (!ids.is_array() || ids.size() > bracket_of_.size()) return bad;
    for (const Json& id : ids) {
      if (!id.is_number_integer()) return bad;
      ids_.push_back(id.get<ModelId>());
    }
    return Status::Ok();
  }

 private:
  struct Rung {
    int epoch = 0;  // the whole epoch at which it is recorded
    size_t k = 0;   // its milestone (recorded_'s index)
  };

  // Takes every rung result whose turn has come, rung by rung and in id order within one.
  std::vector<Decision> Decide(const Observation& run) {
    std::vector<Decision> out;
    for (size_t s = 0; s < rungs_.size(); ++s) {
      for (size_t r = 0; r < rungs_[s].size(); ++r) {
        for (size_t index : members_[s]) {
          if (index >= ids_.size()) break;  // not proposed yet
          const ModelId id = ids_[index];
          if (Recorded(s, rungs_[s][r].k, id)) continue;
          const ModelView* view = FindModel(run, id);
          if (view == nullptr) break;  // not added yet: the state is ahead of the run
          if (static_cast<int>(view->history.size()) >= rungs_[s][r].epoch) {
            Take(run, *view, s, r, &out);
            continue;
          }
          // Ended short of the rung: not in it, and not holding up the models after it.
          if (view->status == ModelStatus::kFailed || view->status == ModelStatus::kStopped) continue;
          break;  // still on its way: the models after it wait for it
        }
      }
    }
    return out;
  }

  // Records `model`'s score at rung r of bracket s and stops or promotes it.
  void Take(const Observation& run, const ModelView& model, size_t s, size_t r,
            std::vector<Decision>* out) {
    const Rung& rung = rungs_[s][r];
    const EpochMetrics& at = model.history[static_cast<size_t>(rung.epoch - 1)];
    const double score = scorer_.Score(at);
    auto& recorded = recorded_[s][rung.k];
    std::vector<double> scores;
    for (const auto& x : recorded) scores.push_back(x.second);
    recorded.emplace_back(model.id, score);
    // Ended, or at max_t: nothing left to decide.
    if (model.status == ModelStatus::kFailed || model.status == ModelStatus::kStopped ||
        static_cast<int>(model.history.size()) >= options_.max_t) {
      return;
    }
    if (scorer_.pareto()) {
      if (const std::optional<std::string> why = ParetoStop(run, model, s, r)) {
        out->push_back(StopModel{model.id, *why});
        return;
      }
    } else if (!scores.empty()) {
      const double cutoff = Percentile(std::move(scores), 1 - 1 / options_.reduction_factor);
      if (score < cutoff) {
        const double shown = scorer_.direction == spec::Direction::kMaximize ? cutoff : -cutoff;
        out->push_back(StopModel{
            model.id, "asha: rung " + Short(milestones_[s][rung.k]) + " epochs: " +
                          scorer_.metric + " " + Short(scorer_.Value(at)) + " is below the top 1/" +
                          Short(options_.reduction_factor) + " (cutoff " + Short(shown) + ")"});
        return;
      }
    }
    const int next = r + 1 < rungs_[s].size() ? rungs_[s][r + 1].epoch : options_.max_t;
    if (model.epochs < next) out->push_back(ExtendModel{model.id, next});
  }

  // Two or more objectives: `model` (just recorded at rung r of bracket s) goes on when it
  // is among the top ceil(n / reduction_factor) of the n models recorded there so far, in
  // Pareto order (search/pareto.h, crowding distance within a front) of their metrics at
  // the rung — read from their histories, so the journaled state keeps one score each.
  // Why it stops, or nothing when it goes on.
  std::optional<std::string> ParetoStop(const Observation& run, const ModelView& model, size_t s,
                                        size_t r) const {
    const Rung& rung = rungs_[s][r];
    std::vector<const EpochMetrics*> at;
    size_t self = 0;
    for (const auto& [id, score] : recorded_[s][rung.k]) {
      const ModelView* v = FindModel(run, id);
      if (v == nullptr || static_cast<int>(v->history.size()) < rung.epoch) continue;
      if (id == model.id) self = at.size();
      at.push_back(&v->history[static_cast<size_t>(rung.epoch - 1)]);
    }
    if (at.size() < 2) return std::nullopt;
    const std::vector<size_t> order = scorer_.Order(at);
    const size_t place =
        static_cast<size_t>(std::find(order.begin(), order.end(), self) - order.begin());
    const size_t keep = static_cast<size_t>(
        std::ceil(static_cast<double>(at.size()) / options_.reduction_factor - kSlack));
    if (place < keep) return std::nullopt;
    return "asha: rung " + Short(milestones_[s][rung.k]) + " epochs: Pareto rank " +
           std::to_string(place + 1) + " of " + std::to_string(at.size()) + " is below the top 1/" +
           Short(options_.reduction_factor);
  }

  // Model `index`'s first epoch budget: its bracket's first rung.
  int FirstBudget(size_t index) const {
    const std::vector<Rung>& rungs = rungs_[bracket_of_[index]];
    return rungs.empty() ? options_.max_t : rungs[0].epoch;
  }

  // search.sampler: tpe: the next models, while fewer than RunnableTarget are runnable.
  void Propose(const Observation& run, std::vector<Decision>* out) {
    if (bohb_ == nullptr) return;
    int64_t proposed = static_cast<int64_t>(ids_.size());
    Refill(
        *bohb_, run, ids_, &proposed,
        [&](int* epochs) {
          if (ids_.size() >= bracket_of_.size()) return false;
          *epochs = FirstBudget(ids_.size());
          return true;
        },
        [&](ModelId id) { ids_.push_back(id); }, out);
  }

  bool Recorded(size_t s, size_t k, ModelId id) const {
    const auto& rung = recorded_[s][k];
    return std::any_of(rung.begin(), rung.end(), [&](const auto& x) { return x.first == id; });
  }

  AshaOptions options_;
  std::vector<ModelConfig> configs_;
  std::vector<int> bracket_of_;  // by model index
  Scorer scorer_;
  std::unique_ptr<BohbSampler> bohb_;  // search.sampler: tpe; null otherwise
  ModelId first_id_ = 0;
  std::vector<ModelId> ids_;                     // by model index: the models added so far
  std::vector<std::vector<size_t>> members_;     // [bracket]: model indices, ascending
  std::vector<std::vector<double>> milestones_;  // [bracket][rung]
  std::vector<std::vector<Rung>> rungs_;         // [bracket]: the rungs recorded, ascending
  std::vector<std::vector<std::vector<std::pair<ModelId, double>>>> recorded_;
};

// Ray assigns a model to bracket s with probability proportional to e^(rungs(s) -
// max rungs) (unseeded); here the draw is seeded, so a seed gives the same brackets.
std::vector<int> AshaBrackets(const AshaOptions& options, uint64_t seed, int n) {
  std::vector<double> weight;
  double max_rungs = 0;
  for (int s = 0; s < options.brackets; ++s) {
    weight.push_back(static_cast<double>(AshaRungs(options, s).size()));
    max_rungs = std::max(max_rungs, weight.back());
  }
  double total = 0;
  for (double& w : weight) total += (w = std::exp(w - max_rungs));
  std::mt19937_64 rng(DeriveSeed(seed, "asha.bracket"));
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    double u = Uniform01(rng) * total;
    int s = 0;
    while (s + 1 < options.brackets && u >= weight[s]) u -= weight[s++];
    out.push_back(s);
  }
  return out;
}
}  // namespace

StatusOr<AshaOptions> ParseAshaOptions(const spec::ExperimentSpec& spec) {
  AshaOptions o;
  RETURN_IF_ERROR(ReadSampler(spec, {"grace_period", "reduction_factor", "max_t", "brackets"},
                              &o.sampler, &o.tpe));
  o.max_t = spec.run.epochs;
  const Json& options = spec.search.options;
  RETURN_IF_ERROR(ReadInt(options, "grace_period", 1, &o.grace_period));
  RETURN_IF_ERROR(
      ReadNumber(options, "reduction_factor", 1, /*min_excluded=*/true, &o.reduction_factor));
  RETURN_IF_ERROR(ReadInt(options, "max_t", 1, &o.max_t));
  RETURN_IF_ERROR(ReadInt(options, "brackets", 1, &o.brackets));
  if (o.grace_period > o.max_t) {
    return InvalidArgument("search.grace_period: " + std::to_string(o.grace_period) +
                           " is above max_t (" + std::to_string(o.max_t) + ")");
  }
  return o;
}

std::vector<double> AshaRungs(const AshaOptions& o, int s) {
  std::vector<double> out;
  for (int k = s;; ++k) {
    const double milestone = o.grace_period * std::pow(o.reduction_factor, k);
    if (milestone > o.max_t * (1 + kSlack)) break;
    out.push_back(milestone);
  }
  return out;
}
StatusOr<std::unique_ptr<Procedure>> MakeAshaProcedure(const spec::ExperimentSpec& spec) {
  ASSIGN_OR_RETURN(AshaOptions options, ParseAshaOptions(spec));
  std::vector<ModelConfig> configs;
  if (options.sampler == Sampler::kGrid) {
    ASSIGN_OR_RETURN(configs, GridConfigs(spec));
  } else if (spec.search.num_models < 1) {
    return InvalidArgument(
        "search.num_models: asha needs num_models >= 1 (the configurations "
        "it samples)");
  } else if (options.sampler == Sampler::kRandom) {
    ASSIGN_OR_RETURN(configs, SampleConfigs(spec, spec.search.num_models));
  }
  const int n =
      options.sampler == Sampler::kTpe ? spec.search.num_models : static_cast<int>(configs.size());
  std::vector<int> bracket_of = AshaBrackets(options, spec.run.seed, n);
  std::unique_ptr<BohbSampler> bohb;
  if (options.sampler == Sampler::kTpe) {
    std::vector<int> budgets = {options.max_t};
    for (int s = 0; s < options.brackets; ++s) {
      for (double m : AshaRungs(options, s)) budgets.push_back(RungEpoch(m, options.max_t));
    }
    bohb = std::make_unique<BohbSampler>(spec, options.tpe, std::move(budgets));
  }
  return std::unique_ptr<Procedure>(std::make_unique<AshaProcedure>(
      options, std::move(configs), std::move(bracket_of), ScorerFor(spec), std::move(bohb)));
}
}  // namespace cerebro::search

#include "cerebro/search/successive_halving.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include "cerebro/common/rng.h"
#include "cerebro/search/bohb.h"
#include "cerebro/search/pareto.h"
#include "cerebro/search/space.h"

namespace cerebro::search {
namespace {

using spec::Json;

// Floors and logs of products of doubles land a hair below an exact integer
// (log(9) / log(3) = 1.9999999999999998): compare with this much slack.
constexpr double kSlack = 1e-9;

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

// search.sampler and, for tpe, its knobs.
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

// Bigger is better, whatever the metric's direction (Ray's "reward"). With two or more
// objectives a rung compares models by Pareto order instead (search/pareto.h: front, then
// crowding distance, then the first objective), and Score is the first objective's.
struct Scorer {
  std::string metric;
  spec::Direction direction;
  std::vector<spec::MetricSpec> objectives;  // spec::Objectives(spec); [0] is `metric`
  double Value(const EpochMetrics& e) const { return MetricValue(e, metric); }
  double Score(const EpochMetrics& e) const {
    return direction == spec::Direction::kMaximize ? Value(e) : -Value(e);
  }
  bool pareto() const { return objectives.size() > 1; }
  // The indices of `epochs`' models, best first: by score (ties: the lower index), or in
  // Pareto order (ties within a front by crowding distance, then the first objective).
  std::vector<size_t> Order(const std::vector<const EpochMetrics*>& epochs) const {
    std::vector<Point> points;
    for (const EpochMetrics* e : epochs) {
      points.push_back(pareto() ? ObjectiveValues(*e, objectives) : Point{Score(*e)});
    }
    if (!pareto()) {
      return ParetoOrder(points, {spec::Direction::kMaximize}, ParetoTieBreak::kFirstObjective);
    }
    return ParetoOrder(points, DirectionsOf(objectives), ParetoTieBreak::kCrowding);
  }
};

Scorer ScorerFor(const spec::ExperimentSpec& spec) {
  return Scorer{spec.metric.name, spec.metric.direction, spec::Objectives(spec)};
}

// numpy.percentile's default (linear) interpolation, as Ray's cutoff uses it.
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

// search.sampler: grid. The grid of spec's params (search/space.h), in grid order, or a
// one-line InvalidArgument naming the knob at fault.
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

// ---- search.sampler: tpe (BOHB-like) ---------------------------------------------------

// How many models a TPE-fed procedure keeps runnable (pending or running): the workers and
// a margin, so that a worker finding its model stopped or waiting at a rung has another at
// hand while the next proposal waits for the decision round; few enough that most
// proposals see recent results.
int RunnableTarget(int slots) { return std::max(1, slots) + std::max(1, slots) / 4 + 1; }

// The models of `ours` that are runnable once `out` (this call's decisions) is applied.
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

// Adds proposals to `out` while fewer than RunnableTarget of `ours` are runnable and
// more(&epochs) says another model is wanted (and sets its epoch budget), numbering them
// from *proposed on; added(id) is told each new model's id (the id the run loop will give
// it: a batch's models are numbered in order from FirstNewId(run)).
template <typename More, typename Added>
void Refill(const BohbSampler& bohb, const Observation& run, const std::vector<ModelId>& ours,
            int64_t* proposed, More more, Added added, std::vector<Decision>* out) {
  int runnable = Runnable(run, ours, *out);
  ModelId next = FirstNewId(run);
  for (const Decision& d : *out) next += std::holds_alternative<AddModel>(d);
  std::deque<Json> batch;  // stable addresses: pending points into it
  std::vector<const Json*> pending;
  int epochs = 0;
  while (runnable < RunnableTarget(run.slots) && more(&epochs)) {
    batch.push_back(bohb.Propose(run, pending, static_cast<uint64_t>(*proposed)));
    pending.push_back(&batch.back());
    out->push_back(AddModel{batch.back(), epochs, -1});
    added(next++);
    ++*proposed;
    ++runnable;
  }
}

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

}  // namespace cerebro::search

// The TPE procedure: keeps `in_flight` models proposed by TpeSampler (tpe.cc) in flight,
// with the constant liar's bookkeeping, and turns finished models into observations.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "cerebro/search/tpe.h"

namespace cerebro::search {
namespace {

using spec::Json;

// The loss TPE minimizes: the metric, negated when maximized; a non-finite one (a diverged
// model) is the worst observation rather than dropped.
double Objective(const EpochMetrics& m, const spec::MetricSpec& metric) {
  const double v = MetricValue(m, metric.name);
  const double loss = metric.direction == spec::Direction::kMaximize ? -v : v;
  return std::isfinite(loss) ? loss : std::numeric_limits<double>::infinity();
}

// A trial of `params` with no result yet (the others' fields at their defaults).
TpeTrial TrialFor(const spec::Json* params) {
  TpeTrial t;
  t.params = params;
  return t;
}
}  // namespace

std::optional<TpeTrial> TpeTrialOf(const ModelView& m, const spec::MetricSpec& metric) {
  if (IsLive(m.status)) {
    return TrialFor(&m.params);
  }
  if (m.status == ModelStatus::kFailed || m.history.empty()) return std::nullopt;
  TpeTrial t = TrialFor(&m.params);
  t.state =
      m.status == ModelStatus::kCompleted ? TpeTrial::State::kComplete : TpeTrial::State::kStopped;
  t.loss = Objective(m.history.back(), metric);
  t.epochs = static_cast<int>(m.history.size());
  return t;
}

std::optional<TpeTrial> TpeTrialOf(const ModelView& m,
                                   const std::vector<spec::MetricSpec>& objectives) {
  std::optional<TpeTrial> t = TpeTrialOf(m, objectives.front());
  if (t && t->state != TpeTrial::State::kRunning && objectives.size() > 1) {
    for (const spec::MetricSpec& o : objectives) t->losses.push_back(Objective(m.history.back(), o));
  }
  return t;
}

namespace {

// ---- the procedure -------------------------------------------------------------------------

class TpeProcedure final : public Procedure {
 public:
  TpeProcedure(const spec::ExperimentSpec& spec, TpeOptions options)
      : spec_(spec),
        options_(options),
        in_flight_(options.in_flight > 0 ? options.in_flight : std::max(4, spec.run.workers)),
        sampler_(spec, options),
        objectives_(spec::Objectives(spec)) {}

  StatusOr<std::vector<Decision>> Start(const Observation& run) override { return Refill(run); }
  StatusOr<std::vector<Decision>> OnEpochDone(const Observation& run, ModelId) override {
    return Refill(run);
  }
  // A failed or user-stopped model frees its slot: propose in its place now.
  StatusOr<std::vector<Decision>> OnModelEnded(const Observation& run, ModelId) override {
    return Refill(run);
  }

  spec::Json SaveState() const override { return Json{{"proposed", proposed_}}; }
  Status RestoreState(const spec::Json& state) override {
    if (state.is_null()) {  // nothing was decided yet
      proposed_ = 0;
      return Status::Ok();
    }
    auto it = state.is_object() ? state.find("proposed") : state.end();
    if (!state.is_object() || it == state.end() || !it->is_number_integer() ||
        it->get<int64_t>() < 0) {
      return InvalidArgument("tpe: the journaled procedure state is not {\"proposed\": N}: " +
                             state.dump());
    }
    proposed_ = it->get<int64_t>();
    return Status::Ok();
  }

 private:
  // Proposal k waits until the first k - in_flight + 1 models of the run (in id order)
  // have finished, and sees the results of those only: every later model counts as in
  // flight (the constant liar), whatever its state. So at most in_flight models are in
  // flight, and what a proposal sees depends neither on the order in which models finish
  // nor on the number of workers: with order: fixed, a seed gives the same decisions.
  StatusOr<std::vector<Decision>> Refill(const Observation& run) {
    std::vector<const ModelView*> models;
    for (const ModelView& m : run.models) models.push_back(&m);
    std::stable_sort(models.begin(), models.end(),
                     [](const ModelView* a, const ModelView* b) { return a->id < b->id; });
    std::vector<Decision> out;
    std::deque<Json> batch;  // this call's proposals; stable addresses: trials point into it
    while (proposed_ < spec_.search.num_models) {
      const int64_t visible = std::max<int64_t>(proposed_ - in_flight_ + 1, 0);
      if (visible > static_cast<int64_t>(models.size()) ||
          !std::all_of(models.begin(), models.begin() + visible, Finished)) {
        break;
      }
      batch.push_back(sampler_.Propose(Trials(models, static_cast<size_t>(visible), batch),
                                       static_cast<uint64_t>(proposed_)));
      ++proposed_;
      out.push_back(AddModel{batch.back(), spec_.run.epochs, -1});
    }
    return out;
  }

  static bool Finished(const ModelView* m) {
    return m->status == ModelStatus::kCompleted || m->status == ModelStatus::kStopped ||
           m->status == ModelStatus::kFailed;
  }

  // The first `visible` models by their results (failed ones and ones without an epoch
  // left out), the others and this call's proposals as in flight.
  std::vector<TpeTrial> Trials(const std::vector<const ModelView*>& models, size_t visible,
                               const std::deque<Json>& batch) const {
    std::vector<TpeTrial> trials;
    for (size_t i = 0; i < models.size(); ++i) {
      const ModelView& m = *models[i];
      if (i >= visible) {
        if (options_.constant_liar) trials.push_back(TrialFor(&m.params));
        continue;
      }
      if (std::optional<TpeTrial> t = TpeTrialOf(m, objectives_)) trials.push_back(*t);
    }
    if (options_.constant_liar) {
      for (const Json& p : batch) trials.push_back(TrialFor(&p));
    }
    return trials;
  }

  spec::ExperimentSpec spec_;
  TpeOptions options_;
  int in_flight_;
  TpeSampler sampler_;
  std::vector<spec::MetricSpec> objectives_;
  int64_t proposed_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<Procedure>> MakeTpeProcedure(const spec::ExperimentSpec& spec) {
  auto blame = [&](const Status& st) {
    return spec.source_file.empty() ? st : st.WithContext(spec.source_file);
  };
  StatusOr<TpeOptions> options = ParseTpeOptions(spec.search.options);
  if (!options.ok()) return blame(options.status());
  if (spec.search.num_models < 1) {
    return blame(
        InvalidArgument("search.num_models: method tpe needs the number of models to propose"));
  }
  return std::unique_ptr<Procedure>(std::make_unique<TpeProcedure>(spec, *options));
}

}  // namespace cerebro::search

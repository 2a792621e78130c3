#include "cerebro/driver/run_status.h"

#include <algorithm>
#include <optional>
#include <variant>

#include "cerebro/driver/layout.h"
#include "cerebro/driver/model_size.h"
#include "cerebro/driver/ranking.h"
#include "cerebro/driver/run_directory.h"
#include "cerebro/driver/run_state.h"
#include "cerebro/store/run_lock.h"

namespace cerebro::driver {
namespace {


// The failure a record is, if it is one.
std::optional<RunFailure> FailureOf(const store::Record& record, int line) {
  if (const auto* r = std::get_if<store::ModelFailed>(&record)) {
    return RunFailure{"model_failed", r->model, -1, 0, r->cause, r->reason, line};
  }
  if (const auto* r = std::get_if<store::WorkerLost>(&record)) {
    return RunFailure{"worker_lost", r->model, r->worker, r->epoch, r->cause, r->error, line};
  }
  if (const auto* r = std::get_if<store::UnitRetried>(&record)) {
    return RunFailure{"unit_retried", r->model, r->worker, r->epoch, r->cause, r->error, line};
  }
  return std::nullopt;
}

void AddUnit(const store::UnitDone& u, RunStatus* s) {
  if (u.worker < 0) return;
  if (static_cast<size_t>(u.worker) >= s->workers.size()) s->workers.resize(u.worker + 1);
  WorkerActivity& w = s->workers[u.worker];
  ++w.units;
  w.last = u;
  if (u.submitted_at > 0 && u.finished_at >= u.submitted_at) {
    w.busy_seconds += u.finished_at - u.submitted_at;
    if (s->first_submitted_at == 0 || u.submitted_at < s->first_submitted_at) {
      s->first_submitted_at = u.submitted_at;
    }
    s->last_finished_at = std::max(s->last_finished_at, u.finished_at);
  }
}

// Progress, the ranking and the ETA, from the replayed state.
void Summarize(const RunState& state, const RunConfig& config, RunStatus* s) {
  const sched::Hopper& hopper = state.hopper();
  s->units_done = hopper.units_completed();
  s->units_total = s->units_done + hopper.units_remaining();
  s->epochs_done = state.epochs_seen();
  s->epochs_total = s->epochs_done;
  int live = 0;
  for (const auto& [id, m] : state.models()) {
    ++s->models_by_status[m.outcome.status];
    s->models.push_back(m.outcome);
    if (!IsLive(m.outcome.status)) continue;
    ++live;
    s->epochs_total += std::max(0, m.epochs - hopper.epochs_done(id));
  }
  std::vector<int> front = RankModels(&s->models, config.ranked_by());
  if (config.objectives.size() > 1) {
    s->objectives = config.objectives;
    s->pareto_front.assign(front.begin(), front.end());
  }
  s->metric = config.metric;
  s->direction = config.direction;
  if (!s->models.empty()) {
    const store::ModelOutcome& top = s->models.front();
    if (top.status != ModelStatus::kFailed && !top.history.empty()) {
      s->best_model = top.id;
      s->best_value = MetricOf(top, config.metric);
      s->best_epochs = static_cast<int>(top.history.size());
    }
  }
  s->done = state.Done();
  int64_t timed = 0;
  double busy = 0;
  for (const WorkerActivity& w : s->workers) busy += w.busy_seconds;
  for (const WorkerActivity& w : s->workers) {
    if (w.busy_seconds > 0) timed += w.units;
  }
  const int64_t left = s->units_total - s->units_done;
  const int at_once = std::max(1, std::min(s->concurrency, live));
  if (left == 0) {
    s->eta_seconds = 0;
  } else if (timed > 0) {
    s->eta_seconds = static_cast<double>(left) * (busy / static_cast<double>(timed)) / at_once;
  }
}

}  // namespace

StatusOr<RunStatus> ReadRunStatus(const std::string& run_dir, FileSystem* fs) {
  ASSIGN_OR_RETURN(OpenedRun run, OpenRun(run_dir, fs, store::ExperimentStore::Lock::kNone));
  RunStatus s;
  s.run_dir = run.store->dir();
  s.name = run.spec.name;
  s.strategy = std::string(EnumName(run.spec.run.strategy));
  // Probed before the journal is read: a run that ends in between reads as live with
  // its final journal, never as not live with a journal it is still appending to.
  if (std::optional<std::string> holder = store::RunLock::HeldBy(s.run_dir)) {
    s.live = true;
    s.owner = *holder;
  }
  const Layout layout = LayoutFor(run.spec.run);
  s.concurrency = layout.concurrency;
  RunConfig config = RunConfigFor(run.spec, layout);
  if (RanksByModelSize(run.spec)) {
    config.count_parameters =
        ParameterCounter([store = run.store.get()] { return store->DataDir(); });
  }
  RunState state(config);

  ASSIGN_OR_RETURN(store::JournalContents journal, run.store->journal().ReadOnly());
  const std::string& where = run.store->journal().path();
  if (journal.version == 1) {
    ASSIGN_OR_RETURN(store::ProcedureDecision start,
                     FirstReleaseStart(run.models, run.spec.run.epochs,
                                       run.store->Path("models.json")));
    journal.records.insert(journal.records.begin(), start);
    journal.lines.insert(journal.lines.begin(), 0);
  }
  for (size_t i = 0; i < journal.records.size(); ++i) {
    const store::Record& record = journal.records[i];
    Effects fx;
    Status st = state.Apply(record, &fx);
    if (!st.ok()) {
      return DataLoss(where + ":" + std::to_string(journal.lines[i]) + ": " + st.message());
    }
    if (const auto* u = std::get_if<store::UnitDone>(&record)) AddUnit(*u, &s);
    if (auto failure = FailureOf(record, journal.lines[i])) s.failures.push_back(*failure);
  }
  if (s.workers.size() < layout.worker_partition.size()) {
    s.workers.resize(layout.worker_partition.size());
  }
  for (size_t w = 0; w < s.workers.size(); ++w) {
    s.workers[w].worker = static_cast<WorkerId>(w);
    if (w < layout.worker_partition.size()) s.workers[w].partition = layout.worker_partition[w];
  }
  Summarize(state, config, &s);
  auto summary = store::ReadSummary(fs, s.run_dir);
  s.finished = summary.ok() && summary->finished && !s.live;
  return s;
}

StatusOr<store::Summary> ReadSummaryOrJournal(const std::string& run_dir, FileSystem* fs) {
  auto summary = store::ReadSummary(fs, run_dir);
  if (summary.status().code() != StatusCode::kNotFound) return summary;
  auto status = ReadRunStatus(run_dir, fs);
  if (status.status().code() == StatusCode::kNotFound) return summary.status();
  if (!status.ok()) return status.status();
  store::Summary s;
  s.name = status->name;
  s.strategy = status->strategy;
  s.metric = status->metric;
  s.direction = status->direction;
  s.best_model = status->best_model;
  s.best_value = status->best_value;
  s.objectives = status->objectives;
  s.pareto_front = status->pareto_front;
  s.finished = false;
  s.models = std::move(status->models);
  return s;
}

}  // namespace cerebro::driver

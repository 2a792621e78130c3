#include "cerebro/driver/observers.h"

#include <algorithm>

#include "cerebro/driver/ranking.h"

namespace cerebro::driver {

Status MetricsFilesObserver::OnStarted(const RunView& run) {
  return store_->RewriteEpochRows(run.state.rows());
}

Status MetricsFilesObserver::OnEpochDone(const RunView&, const store::EpochRow& row) {
  return store_->AppendEpochRow(row);
}

Status MetricsFilesObserver::OnFinished(const RunView&, const Status& loop,
                                        const store::Summary& summary) {
  if (!loop.ok()) return Status::Ok();  // keep the rows as they were appended
  // Rows were appended as epochs completed, in an order that depends on timing; the
  // finished files list them by (model, epoch).
  std::vector<store::EpochRow> sorted;
  for (const store::ModelOutcome& m : summary.models) {
    sorted.insert(sorted.end(), m.history.begin(), m.history.end());
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.model_id, a.epoch) < std::make_pair(b.model_id, b.epoch);
  });
  return store_->RewriteEpochRows(sorted);
}

Status SummaryObserver::OnFinished(const RunView&, const Status&, const store::Summary& s) {
  return store_->WriteJsonFile("summary.json", store::SummaryToJson(s));
}

store::Summary BuildSummary(const spec::ExperimentSpec& spec, const Layout& layout,
                            std::vector<store::ModelOutcome> models,
                            const store::RunTiming& timing) {
  store::Summary s;
  s.name = spec.name;
  s.metric = spec.metric.name;
  s.direction = spec.metric.direction;
  s.objectives = spec.objectives;
  s.strategy = std::string(EnumName(spec.run.strategy));
  s.backend = std::string(EnumName(spec.run.backend));
  s.order = std::string(EnumName(spec.run.order));
  s.workers = layout.concurrency;
  s.partitions = layout.partitions;
  s.epochs = spec.run.epochs;
  s.seed = spec.run.seed;
  s.timing = timing;
  for (store::ModelOutcome& m : models) {
    if (IsLive(m.status)) {
      m.status = ModelStatus::kFailed;
      m.failure = "incomplete";
    }
  }
  std::vector<int> front = RankModels(&models, spec::Objectives(spec));
  if (!s.objectives.empty()) s.pareto_front = std::move(front);
  if (!models.empty() && models[0].status != ModelStatus::kFailed && !models[0].history.empty()) {
    s.best_model = models[0].id;
    s.best_value = MetricOf(models[0], s.metric);
  }
  s.models = std::move(models);
  return s;
}

}  // namespace cerebro::driver

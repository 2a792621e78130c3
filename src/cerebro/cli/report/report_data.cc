#include "cerebro/cli/report/report_data.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <type_traits>
#include <variant>

#include "cerebro/cli/ranked_table.h"

namespace cerebro::cli {
namespace {

void Keep(store::Record record, ReportData* out) {
  std::visit(
      [out](auto&& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, store::UnitDone>) out->units.push_back(std::move(r));
        if constexpr (std::is_same_v<T, store::WorkerLost>) {
          out->workers_lost.push_back(std::move(r));
        }
        if constexpr (std::is_same_v<T, store::ProcedureDecision>) {
          out->decisions.push_back(std::move(r));
        }
      },
      std::move(record));
}

}  // namespace

StatusOr<ReportData> LoadReportData(FileSystem* fs, const std::string& run_dir) {
  ASSIGN_OR_RETURN(store::Summary summary, store::ReadSummary(fs, run_dir));
  return LoadReportData(fs, run_dir, std::move(summary));
}

StatusOr<ReportData> LoadReportData(FileSystem* fs, const std::string& run_dir,
                                    store::Summary summary) {
  ReportData out;
  out.run_dir = run_dir;
  out.summary = std::move(summary);
  const store::Journal journal(fs, run_dir + "/journal.jsonl");
  ASSIGN_OR_RETURN(store::JournalContents contents, journal.ReadOnly());
  for (store::Record& record : contents.records) Keep(std::move(record), &out);
  return out;
}

double MetricOf(const store::Summary& summary, const store::ModelOutcome& model,
                const store::EpochRow& row) {
  return store::MetricValue(model, row, summary.metric);
}

std::string MetricCaption(const std::string& metric) {
  return metric == "accuracy" || metric == "loss" ? "val " + metric : metric;
}

std::string DescribeFront(const store::Summary& s) {
  if (s.objectives.size() < 2) return "";
  std::string out = "Pareto front (";
  for (size_t k = 0; k < s.objectives.size(); ++k) {
    out += (k ? ", " : "") + MetricLabel(s.objectives[k].name) + " " +
           std::string(EnumName(s.objectives[k].direction));
  }
  out += "): ";
  if (s.pareto_front.empty()) return out + "no model finished an epoch";
  out += s.pareto_front.size() == 1 ? "model " : "models ";
  for (size_t i = 0; i < s.pareto_front.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(s.pareto_front[i]);
  }
  return out;
}

bool HasMetrics(const store::ModelOutcome& m) {
  return (m.status == ModelStatus::kCompleted || m.status == ModelStatus::kStopped) &&
         !m.history.empty();
}

std::string FormatNumber(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string DescribeRun(const store::Summary& s) {
  if (s.workers == 0) return s.strategy + "; no summary yet: models as journaled so far";
  return s.strategy + " on " + std::to_string(s.workers) + " workers (" + s.backend + "), " +
         std::to_string(s.partitions) + " partitions, " + std::to_string(s.epochs) +
         " epochs, order " + s.order + ", seed " + std::to_string(s.seed) + "; " +
         FormatNumber(s.timing.wall_seconds, "%.1f") + " s training, " +
         FormatNumber(s.timing.prepare_seconds, "%.1f") + " s preparing";
}

bool EndedEarly(const store::ModelOutcome& m) {
  return m.status == ModelStatus::kFailed || m.status == ModelStatus::kStopped;
}

std::string DescribeEnded(const store::ModelOutcome& m) {
  return "model " + std::to_string(m.id) + " " + std::string(EnumName(m.status)) + " after " +
         std::to_string(m.history.size()) + " epochs: " + m.failure;
}

std::string DescribeLost(const store::WorkerLost& w) {
  return "worker " + std::to_string(w.worker) + " lost during model " + std::to_string(w.model) +
         " epoch " + std::to_string(w.epoch + 1) + " partition " + std::to_string(w.partition) +
         ": " + w.error + " (unit re-run)";
}

std::string DescribeAction(const store::Action& action) {
  if (const auto* a = std::get_if<store::ModelAdded>(&action)) {
    std::string s = "add model " + std::to_string(a->model);
    if (a->parent >= 0) s += " from model " + std::to_string(a->parent);
    if (!a->warm_start.empty()) s += " (warm start)";
    return s + " for " + std::to_string(a->epochs) + " epochs " + a->params.dump();
  }
  if (const auto* s = std::get_if<store::ModelStopped>(&action)) {
    std::string why(EnumName(s->reason));
    if (!s->detail.empty()) why += ": " + s->detail;
    return "stop model " + std::to_string(s->model) + " (" + why + ")";
  }
  const auto& e = std::get<store::ModelExtended>(action);
  return "extend model " + std::to_string(e.model) + " to " + std::to_string(e.epochs) + " epochs";
}

bool IsReported(const store::ProcedureDecision& decision, const store::Action& action) {
  const auto* added = std::get_if<store::ModelAdded>(&action);
  return added == nullptr || decision.epochs_seen > 0 || added->parent >= 0;
}

std::vector<WorkerActivity> ActivityByWorker(const std::vector<store::UnitDone>& units) {
  std::map<int, WorkerActivity> by_worker;
  for (const store::UnitDone& u : units) {
    if (u.finished_at <= 0) continue;
    WorkerActivity& w = by_worker[u.worker];
    w.worker = u.worker;
    ++w.units;
    w.busy_seconds += std::max(0.0, u.finished_at - u.submitted_at);
  }
  std::vector<WorkerActivity> out;
  for (const auto& [id, w] : by_worker) out.push_back(w);
  return out;
}

double TimelineSpan(const std::vector<store::UnitDone>& units) {
  double first = 0, last = 0;
  for (const store::UnitDone& u : units) {
    if (u.finished_at <= 0) continue;
    first = first == 0 ? u.submitted_at : std::min(first, u.submitted_at);
    last = std::max(last, u.finished_at);
  }
  return last - first;
}

}  // namespace cerebro::cli

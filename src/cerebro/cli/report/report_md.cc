#include "cerebro/cli/report/report_md.h"

#include <algorithm>
#include <cstdio>

namespace cerebro::cli {
namespace {

std::string Num(double v, const char* format = "%.4f") { return FormatNumber(v, format); }

// Markdown table cells cannot hold a raw '|'.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string Header(const ReportData& d) {
  const store::Summary& s = d.summary;
  std::string out = "# " + (s.name.empty() ? std::string("Cerebro run") : s.name) + "\n\n";
  out += "`" + d.run_dir + "`: " + DescribeRun(s) + (s.finished ? "" : "; **not finished**") +
         "\n\n";
  if (s.best_model >= 0) {
    out += "**best: model " + std::to_string(s.best_model) + ", " + MetricCaption(s.metric) + " " +
           Num(s.best_value) + "**\n";
  } else {
    out += "**no model finished an epoch**\n";
  }
  if (!DescribeFront(s).empty()) out += "\n**" + DescribeFront(s) + "**\n";
  return out;
}

std::string RankedTable(const store::Summary& s) {
  std::string out = "\n## Ranked models\n\n| rank | model | status | " + MetricCaption(s.metric) +
                    " | val loss | train acc | epochs | params |\n"
                    "|---:|---:|---|---:|---:|---:|---:|---|\n";
  for (const store::ModelOutcome& m : s.models) {
    out += "| " + std::to_string(m.rank) + " | " + std::to_string(m.id) + " | " +
           std::string(EnumName(m.status)) + " | ";
    if (HasMetrics(m)) {
      const store::EpochRow& last = m.history.back();
      out += Num(MetricOf(s, m, last)) + " | " + Num(last.val_loss) + " | " +
             Num(last.train_accuracy) + " | ";
    } else {
      out += "- | - | - | ";
    }
    out += std::to_string(m.history.size()) + " | `" + Cell(m.params.dump()) + "` |\n";
  }
  return out;
}

// The text stand-in for the learning curves: the ranking metric per model and epoch.
std::string Curves(const store::Summary& s) {
  size_t epochs = 0;
  for (const store::ModelOutcome& m : s.models) epochs = std::max(epochs, m.history.size());
  if (epochs == 0) return "";
  // "val accuracy" / "val loss", or the metric's own name (train_loss, num_parameters).
  std::string out = "\n## " + MetricCaption(s.metric) + " per epoch\n\n| model |";
  std::string rule = "|---:|";
  for (size_t e = 1; e <= epochs; ++e) {
    out += " " + std::to_string(e) + " |";
    rule += "---:|";
  }
  out += "\n" + rule + "\n";
  for (const store::ModelOutcome& m : s.models) {
    out += "| " + std::to_string(m.id) + " |";
    for (size_t e = 0; e < epochs; ++e) {
      out += e < m.history.size() ? " " + Num(MetricOf(s, m, m.history[e])) + " |" : " |";
    }
    out += "\n";
  }
  return out;
}

// The text stand-in for the Gantt chart: each worker's units and busy share.
std::string Workers(const ReportData& d) {
  const std::vector<WorkerActivity> activity = ActivityByWorker(d.units);
  if (activity.empty()) return "";
  const double span = TimelineSpan(d.units);
  std::string out = "\n## Workers\n\n| worker | units | busy s | busy % |\n|---:|---:|---:|---:|\n";
  for (const WorkerActivity& w : activity) {
    out += "| " + std::to_string(w.worker) + " | " + std::to_string(w.units) + " | " +
           Num(w.busy_seconds, "%.1f") + " | " +
           Num(span > 0 ? 100 * w.busy_seconds / span : 0, "%.0f") + " |\n";
  }
  return out;
}

std::string Ended(const ReportData& d) {
  std::string out;
  for (const store::ModelOutcome& m : d.summary.models) {
    if (EndedEarly(m)) out += "- " + DescribeEnded(m) + "\n";
  }
  for (const store::WorkerLost& w : d.workers_lost) out += "- " + DescribeLost(w) + "\n";
  return out.empty() ? "" : "\n## Failed and stopped\n\n" + out;
}

std::string Decisions(const std::vector<store::ProcedureDecision>& decisions) {
  std::string out;
  for (const store::ProcedureDecision& d : decisions) {
    for (const store::Action& a : d.actions) {
      if (!IsReported(d, a)) continue;
      out += "- after " + std::to_string(d.epochs_seen) + " model-epochs: " + DescribeAction(a) +
             "\n";
    }
  }
  return out.empty() ? "" : "\n## Procedure decisions\n\n" + out;
}

}  // namespace

std::string RenderMarkdownReport(const ReportData& d) {
  return Header(d) + RankedTable(d.summary) + Curves(d.summary) + Workers(d) + Ended(d) +
         Decisions(d.decisions);
}

}  // namespace cerebro::cli

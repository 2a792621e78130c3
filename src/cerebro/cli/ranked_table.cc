#include "cerebro/cli/ranked_table.h"

#include <algorithm>
#include <cstdio>

namespace cerebro::cli {
namespace {

// `text` left-aligned in `width` columns, then one space.
std::string Cell(const std::string& text, size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ') + " ";
}

// With two or more objectives: rank, model, status, pareto, the objectives, val_loss,
// train_acc, params.
std::string FormatParetoTable(const store::Summary& s) {
  std::vector<size_t> widths;
  std::string out = "rank model status     pareto ";
  for (const spec::MetricSpec& o : s.objectives) {
    widths.push_back(std::max<size_t>(9, MetricLabel(o.name).size()));
    out += Cell(MetricLabel(o.name), widths.back());
  }
  out += "val_loss  train_acc  params\n";
  for (const store::ModelOutcome& m : s.models) {
    const bool ranked =
        (m.status == ModelStatus::kCompleted || m.status == ModelStatus::kStopped) &&
        !m.history.empty();
    const bool front =
        std::find(s.pareto_front.begin(), s.pareto_front.end(), m.id) != s.pareto_front.end();
    out += Cell(std::to_string(m.rank), 4) + Cell(std::to_string(m.id), 5) +
           Cell(std::string(EnumName(m.status)), 10) + Cell(front ? "*" : "", 6);
    for (size_t k = 0; k < s.objectives.size(); ++k) {
      const std::string& name = s.objectives[k].name;
      out += Cell(ranked ? FormatMetric(name, store::MetricValue(m, m.history.back(), name)) : "-",
                  widths[k]);
    }
    out += ranked ? Cell(FormatMetric("loss", m.history.back().val_loss), 9) +
                        Cell(FormatMetric("train_accuracy", m.history.back().train_accuracy), 9)
                  : Cell("-", 9) + Cell("-", 9);
    out += " " + m.params.dump();
    if (!ranked || m.status == ModelStatus::kStopped) out += "  (" + m.failure + ")";
    out += "\n";
  }
  return out;
}

}  // namespace

std::string MetricLabel(const std::string& metric) {
  return metric == "accuracy" || metric == "loss" ? "val_" + metric : metric;
}

std::string FormatMetric(const std::string& metric, double value) {
  char buf[64];
  const char* format = metric == "num_parameters"        ? "%.0f"
                       : metric == "seconds_per_example" ? "%.4g"
                                                         : "%.4f";
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

std::string FormatRankedTable(const store::Summary& s) {
  if (s.objectives.size() > 1) return FormatParetoTable(s);
  // snprintf formats the fixed-width columns; params and reasons are appended whole,
  // however long they are.
  char line[256];
  std::snprintf(line, sizeof(line), "%-4s %-5s %-10s %-9s %-9s %-9s  ", "rank", "model", "status",
                MetricLabel(s.metric).c_str(), "val_loss", "train_acc");
  std::string out = std::string(line) + "params\n";
  for (const store::ModelOutcome& m : s.models) {
    const std::string status(EnumName(m.status));
    const bool ranked =
        (m.status == ModelStatus::kCompleted || m.status == ModelStatus::kStopped) &&
        !m.history.empty();
    if (ranked) {
      const store::EpochRow& last = m.history.back();
      const std::string metric = FormatMetric(s.metric, store::MetricValue(m, last, s.metric));
      std::snprintf(line, sizeof(line), "%-4d %-5d %-10s %-9s %-9.4f %-9.4f  ", m.rank, m.id,
                    status.c_str(), metric.c_str(), last.val_loss, last.train_accuracy);
    } else {
      std::snprintf(line, sizeof(line), "%-4d %-5d %-10s %-9s %-9s %-9s  ", m.rank, m.id,
                    status.c_str(), "-", "-", "-");
    }
    out += line + m.params.dump();
    if (!ranked || m.status == ModelStatus::kStopped) out += "  (" + m.failure + ")";
    out += "\n";
  }
  return out;
}

}  // namespace cerebro::cli

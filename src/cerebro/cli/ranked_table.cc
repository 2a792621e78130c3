#include "cerebro/cli/ranked_table.h"

#include <cstdio>

namespace cerebro::cli {

std::string FormatRankedTable(const store::Summary& s) {
  // snprintf formats the fixed-width columns; params and reasons are appended whole,
  // however long they are.
  char line[256];
  std::snprintf(line, sizeof(line), "%-4s %-5s %-10s %-9s %-9s %-9s  ", "rank", "model", "status",
                ("val_" + s.metric).c_str(), "val_loss", "train_acc");
  std::string out = std::string(line) + "params\n";
  for (const store::ModelOutcome& m : s.models) {
    const std::string status(EnumName(m.status));
    const bool ranked =
        (m.status == ModelStatus::kCompleted || m.status == ModelStatus::kStopped) &&
        !m.history.empty();
    if (ranked) {
      const store::EpochRow& last = m.history.back();
      const double metric = s.metric == "accuracy" ? last.val_accuracy : last.val_loss;
      std::snprintf(line, sizeof(line), "%-4d %-5d %-10s %-9.4f %-9.4f %-9.4f  ", m.rank, m.id,
                    status.c_str(), metric, last.val_loss, last.train_accuracy);
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

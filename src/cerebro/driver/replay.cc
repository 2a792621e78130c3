// ReplayExperiment: re-runs a run in the partition order its journal recorded.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "cerebro/driver/driver.h"
#include "cerebro/driver/run_directory.h"

namespace cerebro::driver {
namespace {

// The realized training order of every (model, epoch), in completion order.
StatusOr<std::map<std::pair<int, int>, std::vector<int>>> JournaledOrders(store::Journal& journal) {
  ASSIGN_OR_RETURN(store::JournalContents contents, journal.Read());
  std::map<std::pair<int, int>, std::vector<int>> orders;
  for (const store::Record& r : contents.records) {
    const auto* unit = std::get_if<store::UnitDone>(&r);
    if (unit != nullptr && unit->kind == UnitKind::kTrain) {
      orders[{unit->model, unit->epoch}].push_back(unit->partition);
    }
  }
  return orders;
}

// The original per-epoch metrics, from metrics.jsonl.
StatusOr<std::map<std::pair<int, int>, spec::Json>> OriginalMetrics(store::ExperimentStore& store) {
  ASSIGN_OR_RETURN(std::string rows, store.ReadFile("metrics.jsonl"));
  std::map<std::pair<int, int>, spec::Json> original;
  std::istringstream in(rows);
  std::string line;
  while (std::getline(in, line)) {
    spec::Json j = spec::Json::parse(line, nullptr, false);
    if (!j.is_discarded()) original[{j.value("model_id", -1), j.value("epoch", -1)}] = j;
  }
  return original;
}

void Compare(const std::map<std::pair<int, int>, spec::Json>& original, ReplayReport* report) {
  for (const auto& m : report->replay.models) {
    for (const auto& row : m.history) {
      auto it = original.find({row.model_id, row.epoch});
      if (it == original.end()) continue;
      ++report->epochs_compared;
      const spec::Json& o = it->second;
      double diffs[4] = {std::fabs(row.train_loss - o.value("train_loss", 0.0)),
                         std::fabs(row.train_accuracy - o.value("train_accuracy", 0.0)),
                         std::fabs(row.val_loss - o.value("val_loss", 0.0)),
                         std::fabs(row.val_accuracy - o.value("val_accuracy", 0.0))};
      double worst = *std::max_element(std::begin(diffs), std::end(diffs));
      report->max_abs_difference = std::max(report->max_abs_difference, worst);
      if (worst == 0) {
        ++report->epochs_identical;
      } else {
        char buf[200];
        std::snprintf(buf, sizeof(buf), "model %d epoch %d: val_loss %.9g vs %.9g (max |diff| %.3g)",
                      row.model_id, row.epoch, row.val_loss, o.value("val_loss", 0.0), worst);
        report->divergences.push_back(buf);
      }
    }
  }
}

}  // namespace

StatusOr<ReplayReport> ReplayExperiment(const std::string& run_dir, const RunOptions& options) {
  if (options.out_dir.empty()) return InvalidArgument("--out: missing output directory");
  FileSystem* fs = options.fs != nullptr ? options.fs : &RealFileSystem();
  // The source is only read (it may even be running); the replay writes its own run.
  ASSIGN_OR_RETURN(OpenedRun run, OpenRun(run_dir, fs, store::ExperimentStore::Lock::kNone));
  RunOptions replay_options = options;
  ASSIGN_OR_RETURN(replay_options.scripted_orders, JournaledOrders(run.store->journal()));
  ASSIGN_OR_RETURN(auto original, OriginalMetrics(*run.store));
  spec::ExperimentSpec spec = run.spec;
  spec.run.order = spec::Order::kFixed;
  ReplayReport report;
  ASSIGN_OR_RETURN(report.replay, RunExperiment(spec, replay_options));
  Compare(original, &report);
  return report;
}

}  // namespace cerebro::driver

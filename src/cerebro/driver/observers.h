// The observers every run has: the metrics files and summary.json (both derived from
// the journal and rebuilt on resume), and BuildSummary, the one function that turns a
// run's models into its ranked summary. Observers are used by the loop's thread only.
#pragma once

#include <vector>

#include "cerebro/driver/layout.h"
#include "cerebro/driver/run_observer.h"
#include "cerebro/store/experiment_store.h"

namespace cerebro::driver {

// metrics.csv and metrics.jsonl: a row appended per finished epoch (in completion
// order, so a live run's files grow), rewritten at the start from the replayed rows and
// at a clean end sorted by (model, epoch), so equal runs give equal bytes.
class MetricsFilesObserver final : public RunObserver {
 public:
  explicit MetricsFilesObserver(store::ExperimentStore* store) : store_(store) {}
  Status OnStarted(const RunView& run) override;
  Status OnEpochDone(const RunView& run, const store::EpochRow& row) override;
  Status OnFinished(const RunView& run, const Status& loop, const store::Summary& s) override;

 private:
  store::ExperimentStore* store_;
};

// summary.json, written when the run ends (also when the loop failed: what finished is
// reported, unfinished models as failed "incomplete").
class SummaryObserver final : public RunObserver {
 public:
  explicit SummaryObserver(store::ExperimentStore* store) : store_(store) {}
  Status OnFinished(const RunView& run, const Status& loop, const store::Summary& s) override;

 private:
  store::ExperimentStore* store_;
};

// The ranked summary of `models` (pending and running ones are reported as failed,
// "incomplete": the run ended before they finished).
store::Summary BuildSummary(const spec::ExperimentSpec& spec, const Layout& layout,
                            std::vector<store::ModelOutcome> models,
                            const store::RunTiming& timing);

}  // namespace cerebro::driver

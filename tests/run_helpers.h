// Helpers shared by the tests that drive whole runs (e2e, resume, Ray): parsing a spec
// from text, run options pointing at the built worker, and reading a run's journal.
// Failures are reported through gtest (EXPECT_*), so call these from tests only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cerebro/driver/driver.h"

namespace cerebro::testing {

spec::ExperimentSpec ParseOrDie(const std::string& text);

// Calls `fn` after every finished unit of a run (tests inject faults from it).
class UnitObserver final : public driver::RunObserver {
 public:
  using Fn = std::function<void(const driver::RunView&, const store::UnitDone&)>;
  explicit UnitObserver(Fn fn) : fn_(std::move(fn)) {}
  Status OnUnitDone(const driver::RunView& run, const store::UnitDone& unit) override {
    fn_(run, unit);
    return Status::Ok();
  }

 private:
  Fn fn_;
};

// Options for a run into `out_dir` using $CEREBRO_BINARY_DIR/cerebro-worker.
driver::RunOptions Options(const std::string& out_dir);

std::vector<spec::Json> ReadJsonLines(const std::string& path);

// (model, epoch, kind, partition) -> how often the run's journal records it as completed.
std::map<std::tuple<int, int, std::string, int>, int> UnitCounts(const std::string& run_dir);

// Every model has exactly one completed train and eval unit per (epoch, partition).
void ExpectEveryUnitExactlyOnce(const std::string& run_dir, int models, int epochs, int partitions);

}  // namespace cerebro::testing

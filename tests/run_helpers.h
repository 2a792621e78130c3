// Helpers shared by the tests that drive whole runs (e2e, resume, Ray): parsing a spec
// from text, run options pointing at the built worker, reading a run's journal, and
// starting `cerebro` and following its process tree.
// Failures are reported through gtest (EXPECT_*), so call these from tests only.
#pragma once

#include <sys/types.h>

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

// Complete lines of a file (a line being written is not counted); 0 when it is absent.
// Safe on a journal that a running process appends to.
int CompleteLines(const std::string& path);

// (model, epoch, kind, partition) -> how often the run's journal records it as completed.
std::map<std::tuple<int, int, std::string, int>, int> UnitCounts(const std::string& run_dir);

// Every model has exactly one completed train and eval unit per (epoch, partition).
void ExpectEveryUnitExactlyOnce(const std::string& run_dir, int models, int epochs, int partitions);

// Starts `BinaryDir()/cerebro ARGS...` (output to /dev/null) and returns its pid.
pid_t SpawnCerebro(const std::vector<std::string>& args);

// A process as recorded at one moment: its pid and its start time (which tells a recycled
// pid from the one recorded).
struct ProcessId {
  pid_t pid = -1;
  std::string start;
  bool operator<(const ProcessId& o) const { return pid < o.pid; }
};

// Every descendant of `pid` (children, their children...) -> its name (comm), from the
// kernel's own record of each thread's children (/proc/PID/task/TID/children): the
// process tree of one run, not a sweep of every process on the machine.
std::map<ProcessId, std::string> DescendantsOf(pid_t pid);

// Those of `processes` that still run: same pid and start time, not a zombie.
std::vector<ProcessId> StillRunning(const std::map<ProcessId, std::string>& processes);

}  // namespace cerebro::testing

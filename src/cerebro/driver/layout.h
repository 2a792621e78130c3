// How a strategy lays the data and the workers out: the number of partitions, which
// partition each worker process holds, how many units run at once, and the scheduling
// policy. Pure function of the spec's run section.
#pragma once

#include <vector>

#include "cerebro/sched/hopper.h"
#include "cerebro/spec/spec.h"

namespace cerebro::driver {

struct Layout {
  int partitions = 1;
  std::vector<int> worker_partition;  // by worker process
  int concurrency = 1;                // units in flight at once (run.workers)
  sched::Policy policy = sched::Policy::kRandomGreedy;
};

// mop: P = run.partitions (default run.workers) partitions, one worker process each,
//      run.workers of them busy at once; models hop.
// sequential: one worker holding all the data; models one after another.
// task: run.workers workers, each a full replica (partition 0); lowest model id first.
// dp: one partition per worker; every worker trains the same model at once.
Layout LayoutFor(const spec::RunSpec& run);

}  // namespace cerebro::driver

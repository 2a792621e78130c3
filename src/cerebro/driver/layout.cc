#include "cerebro/driver/layout.h"

namespace cerebro::driver {

Layout LayoutFor(const spec::RunSpec& run) {
  Layout l;
  l.concurrency = run.workers;
  switch (run.strategy) {
    case spec::Strategy::kMop:
      // With more partitions than workers every partition still gets its own process,
      // but only `workers` run at once (results then do not depend on the worker count).
      l.partitions = run.partitions > 0 ? run.partitions : run.workers;
      for (int p = 0; p < l.partitions; ++p) l.worker_partition.push_back(p);
      break;
    case spec::Strategy::kSequential:
      l.partitions = 1;
      l.worker_partition = {0};
      l.concurrency = 1;
      l.policy = sched::Policy::kLowestIdFirst;
      break;
    case spec::Strategy::kDataParallel:
      l.partitions = run.workers;
      for (int p = 0; p < l.partitions; ++p) l.worker_partition.push_back(p);
      break;
    case spec::Strategy::kTask:
      l.partitions = 1;
      l.worker_partition.assign(static_cast<size_t>(run.workers), 0);
      l.policy = sched::Policy::kLowestIdFirst;
      break;
  }
  return l;
}

}  // namespace cerebro::driver

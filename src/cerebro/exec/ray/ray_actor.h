// The Ray actor that is one Cerebro worker: it loads its train and validation
// partitions once (constructor) and runs units as actor tasks through the trainer's C
// API (train/worker_api.h). A unit's input state is either a state file of the run
// directory (UnitArgs::state_path, on storage every node sees), which the actor reads and
// verifies, and a training unit writes its new state to UnitArgs::out_path itself; or the
// previous unit's UnitOutput, passed as an ObjectRef that Ray resolves on this actor
// straight from the object store (RayBackendOptions::states_by_file off).
// ABI 0 (Ray's headers require it); compiled only into libcerebro_ray.so. One task at
// a time per actor (Ray's default for actors), so no locking.
#pragma once

#include <ray/api.h>

#include <cstdint>
#include <string>
#include <vector>

static_assert(_GLIBCXX_USE_CXX11_ABI == 0,
              "Ray-facing code must be built with -D_GLIBCXX_USE_CXX11_ABI=0 (Ray's C++ API "
              "passes std::string across libray_api.so)");

struct CerebroWorker;  // train/worker_api.h

namespace cerebro::exec::ray_actor {

// What the driver sends with each unit (a state not in a file travels separately, as an
// ObjectRef). The file fields are CerebroUnitRequest's (train/worker_api.h).
struct UnitArgs {
  std::string model_config_json;
  int train = 0;
  uint64_t init_seed = 0;
  uint64_t unit_seed = 0;
  double submitted_at = 0;  // wall clock of the driver's Remote() call
  std::string state_path;   // "": the input state is the ObjectRef's bytes
  uint64_t state_size = 0;  // what the journal says of state_path (0: unchecked)
  uint64_t state_hash = 0;
  std::string out_path;     // train: write the new state here, return only its size/hash
  int durable = 1;          // fsync out_path and its directory before answering
  MSGPACK_DEFINE(model_config_json, train, init_seed, unit_seed, submitted_at, state_path,
                 state_size, state_hash, out_path, durable);
};

// What a unit returns; also the next unit's input (only `state` and `returned_at` are
// read from an input). Bytes are std::string: msgpack packs it as one raw block.
struct UnitOutput {
  int code = 0;             // CEREBRO_OK or a CEREBRO_ERR_* of the trainer
  std::string error;
  double loss_sum = 0;
  double correct = 0;
  int64_t num_examples = 0;
  double compute_seconds = 0;
  double state_seconds = 0;
  // The input state's hand-off: from when it could first move (the producer returned,
  // or the task was submitted, whichever is later) to this task holding the bytes.
  double handoff_seconds = 0;
  double returned_at = 0;      // wall clock (s since epoch) when the producer returned
  std::string state;           // empty when written to UnitArgs::out_path
  double file_seconds = 0;     // reading and writing state files (the trainer's figure)
  uint64_t written_size = 0;   // out_path written: its size and Hash64
  uint64_t written_hash = 0;
  MSGPACK_DEFINE(code, error, loss_sum, correct, num_examples, compute_seconds,
                 state_seconds, handoff_seconds, returned_at, state, file_seconds,
                 written_size, written_hash);
};

struct ReadyReply {
  int ok = 0;
  std::string warning;
  std::string error;
  int pid = 0;
  MSGPACK_DEFINE(ok, warning, error, pid);
};

class Worker {
 public:
  // Ray's factory. Never throws: a load failure is reported by Ready().
  static Worker* Create(std::string store_dir, int train_partition, int val_partition,
                        int threads);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  ReadyReply Ready();
  UnitOutput RunUnit(UnitArgs args, UnitOutput input);
  int Pid();
  // Hand-off benchmark: returns `input` (keep_state) or just its timings.
  UnitOutput Echo(UnitOutput input, int keep_state);

 private:
  Worker() = default;
  CerebroWorker* worker_ = nullptr;
  ReadyReply ready_;
};

}  // namespace cerebro::exec::ray_actor

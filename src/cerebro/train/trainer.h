// The trainer: runs one unit (a training pass or an evaluation) of a model on an
// in-memory partition. This is the C++ side of the worker seam; backends reach it only
// through the C API in worker_api.h, which wraps one Trainer per CerebroWorker.
//
// A Trainer owns at most one train and one val partition (moved in, never copied again:
// the torch tensors are views over the Dataset's vectors). It keeps no model between
// units: every unit starts from the state bytes it is given, so a model can hop freely.
// Thread-compatible: one thread at a time. Seeding uses torch's process-wide generator
// and thread settings are process-wide, so the intended deployment is one Trainer per
// process (several in one process work, but must not run units concurrently).
//
// The pieces: partition.h (the partition and its batches), state_codec.h (the state
// bytes), optimizer_state.h (each optimizer), process.h and blas.h (worker settings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/train/malloc_buffer.h"

namespace cerebro::train {

struct UnitRequest {
  std::string model_config_json;
  bool train = true;
  uint64_t init_seed = 0;
  uint64_t unit_seed = 0;
  const uint8_t* state = nullptr;  // borrowed until decoded (see RunUnit) or RunUnit returns
  size_t state_size = 0;           // 0: fresh weights from init_seed
  bool state_verified = false;     // matched the journal's size and hash: not checksummed again
};

struct UnitResult {
  double loss_sum = 0;  // sum of per-example losses
  double correct = 0;   // classification only
  int64_t num_examples = 0;
  double compute_seconds = 0;
  double state_seconds = 0;
  MallocBuffer state;  // train units only
};

enum class PartitionKind { kTrain, kVal };

class Partition;  // partition.h

class Trainer {
 public:
  Trainer();
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Takes the dataset (replacing any partition of that kind). Fails with DataLoss if its
  // buffers are inconsistent with its shape or labels are out of range.
  Status SetPartition(PartitionKind kind, data::Dataset dataset);
  // Loads partition `index` of `kind` from a partitioned store (data::LoadPartition).
  // Errors from the store keep their codes.
  Status LoadPartition(const std::string& store_dir, PartitionKind kind, int index);

  // Runs one unit. A failure the caller acts on comes back as a Status whose code says
  // who is at fault (worker_api.cc maps it to a CEREBRO_ERR_*):
  //   kInvalidArgument     the config is invalid, or cannot run on this data (e.g. a
  //                        CNN on flat features, cross_entropy on a regression task)
  //   kDataLoss            the state bytes could not be decoded into this model
  //   kFailedPrecondition  no partition of the needed kind is loaded
  //   kAborted             the training loss became non-finite (the model diverged)
  // The model failing inside torch throws c10::Error, and running out of memory throws
  // std::bad_alloc or c10::Error (torch_error.h's IsOutOfMemory tells which): the C
  // seam is where those stop. (Memory that runs out while model::BuildNet builds the
  // net comes back as its kInternal, since model/ contains its factories' exceptions.)
  // Deterministic: the same request on the same partition gives bitwise the same
  // metrics and state bytes on CPU with one intra-op thread and the same BLAS kernels
  // (OpenBLAS's kernel choice, see BlasWarning, changes the low bits of results).
  // `state_decoded`, when given, is called once the request's state is in the model,
  // before the pass: the caller may free the bytes then, so that a unit never holds its
  // input state and its output state at once.
  StatusOr<UnitResult> RunUnit(const UnitRequest& request,
                               const std::function<void()>& state_decoded = nullptr);

  // Runs consecutive train units of one model without serializing in between: the
  // first request's state (or init_seed) starts the model, each request contributes its
  // unit_seed, and only the last result carries the new state. Bitwise the same as
  // chaining RunUnit calls through the state bytes (which is what the tests check, to
  // prove that a state restores optimizer moments and step counts exactly). Requests
  // must all be train units with the same config (else InvalidArgument). Fails and
  // throws as RunUnit.
  StatusOr<std::vector<UnitResult>> RunUnits(const std::vector<UnitRequest>& requests);

 private:
  std::unique_ptr<Partition> train_;
  std::unique_ptr<Partition> val_;
};

// The element-wise mean of several states of one model (weights and optimizer moments;
// step counts are taken from the first): the model-averaging step of the data-parallel
// baseline. Every state must decode into the model `config_json` builds for data of
// `feature_shape` with `num_outputs` outputs (else DataLoss; InvalidArgument for a bad
// config or no states). Throws as RunUnit when torch fails or memory runs out.
StatusOr<MallocBuffer> AverageStates(const std::string& config_json,
                                     const std::vector<int64_t>& feature_shape, int64_t num_outputs,
                                     const std::vector<std::pair<const uint8_t*, size_t>>& states);

}  // namespace cerebro::train

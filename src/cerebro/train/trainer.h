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
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::train {

// A malloc'ed byte buffer, so that ownership can pass through the C API (the caller
// releases it with cerebro_buffer_free, i.e. free()).
class MallocBuffer {
 public:
  MallocBuffer() = default;
  MallocBuffer(MallocBuffer&& other) noexcept { *this = std::move(other); }
  MallocBuffer& operator=(MallocBuffer&& other) noexcept;
  MallocBuffer(const MallocBuffer&) = delete;
  MallocBuffer& operator=(const MallocBuffer&) = delete;
  ~MallocBuffer() { std::free(data_); }

  void Reserve(size_t capacity);             // throws std::bad_alloc
  void Append(const void* bytes, size_t n);  // throws std::bad_alloc
  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }
  size_t size() const { return size_; }
  // Hands the bytes to the caller (who must free() them); the buffer becomes empty.
  uint8_t* Release();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

struct UnitRequest {
  std::string model_config_json;
  bool train = true;
  uint64_t init_seed = 0;
  uint64_t unit_seed = 0;
  const uint8_t* state = nullptr;  // borrowed for the duration of RunUnit
  size_t state_size = 0;           // 0: fresh weights from init_seed
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

  // Runs one unit. The error code says who is at fault (worker_api.cc maps it):
  //   kInvalidArgument     the config is invalid, or cannot run on this data (e.g. a
  //                        CNN on flat features, cross_entropy on a regression task)
  //   kDataLoss            the state bytes could not be decoded into this model
  //   kFailedPrecondition  no partition of the needed kind is loaded
  //   anything else        the model failed while running (non-finite loss, a torch
  //                        error, out of memory)
  // Deterministic: the same request on the same partition gives bitwise the same
  // metrics and state bytes on CPU with one intra-op thread and the same BLAS kernels
  // (OpenBLAS's kernel choice, see BlasWarning, changes the low bits of results).
  StatusOr<UnitResult> RunUnit(const UnitRequest& request);

  // Runs consecutive train units of one model without serializing in between: the
  // first request's state (or init_seed) starts the model, each request contributes its
  // unit_seed, and only the last result carries the new state. Bitwise the same as
  // chaining RunUnit calls through the state bytes (which is what the tests check, to
  // prove that a state restores optimizer moments and step counts exactly). Requests
  // must all be train units with the same config (else InvalidArgument).
  StatusOr<std::vector<UnitResult>> RunUnits(const std::vector<UnitRequest>& requests);

  struct Partition;  // defined in trainer.cc

 private:
  std::unique_ptr<Partition> train_;
  std::unique_ptr<Partition> val_;
};

// The element-wise mean of several states of one model (weights and optimizer moments;
// step counts are taken from the first): the model-averaging step of the data-parallel
// baseline. Every state must decode into the model `config_json` builds for data of
// `feature_shape` with `num_outputs` outputs.
StatusOr<MallocBuffer> AverageStates(const std::string& config_json,
                                     const std::vector<int64_t>& feature_shape, int64_t num_outputs,
                                     const std::vector<std::pair<const uint8_t*, size_t>>& states);

// Per-process settings for a worker: flush-to-zero for denormals, torch's intra-op
// threads (and OpenMP's and OpenBLAS's, which torch shares) set to `threads`, the
// first time it is called in a process inter-op threads to 1, and glibc's mmap/trim
// thresholds raised so tensor buffers are reused rather than re-faulted every step.
// Process-wide. Fails with InvalidArgument if threads < 1.
Status ConfigureProcess(int threads);

// Empty when the BLAS that LibTorch resolved is an optimised one (OpenBLAS, BLIS, MKL)
// running kernels that fit the CPU, or cannot be identified. Otherwise one line saying
// what to fix: the reference BLAS (GEMM-bound models ~15x slower), or OpenBLAS running
// generic kernels because it does not recognise the CPU (2-3x slower; fixed by
// OPENBLAS_CORETYPE in the worker's environment, which must be set before the process
// starts).
std::string BlasWarning();

// When OpenBLAS did not recognise this CPU and fell back to generic kernels, the
// OPENBLAS_CORETYPE value that would select the right ones ("SkylakeX", "Haswell");
// otherwise "". Only takes effect in a process started with it in the environment.
std::string SuggestedOpenBlasCoreType();

}  // namespace cerebro::train

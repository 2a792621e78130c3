// The C side of the trainer seam: wraps train::Trainer behind worker_api.h. Every entry
// point catches every exception; only return codes and copied text leave this file.
#include "cerebro/train/worker_api.h"

#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "cerebro/common/clock.h"
#include "cerebro/common/rng.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/blas.h"
#include "cerebro/train/process.h"
#include "cerebro/train/state_file.h"
#include "cerebro/train/torch_error.h"
#include "cerebro/train/trainer.h"

// LibTorch (Debian's and the pip wheel's) is built with the C++11 ABI, and this file
// passes std::string into it. The Ray half of the seam is built with ABI 0 and asserts
// the opposite; the two meet only through worker_api.h's C types, which is the point.
static_assert(_GLIBCXX_USE_CXX11_ABI == 1,
              "the trainer side of worker_api.h must be built with _GLIBCXX_USE_CXX11_ABI=1 "
              "to match LibTorch");

// No copy of the last state written is kept: a model that comes back to this worker
// reads its file again (from the page cache: a copy and a hash), which is cheaper than
// holding a state's worth of private memory in every worker for the whole run.
struct CerebroWorker {
  cerebro::train::Trainer trainer;
};

namespace {

using cerebro::Status;
using cerebro::StatusCode;

void CopyText(const std::string& text, char* buf, size_t cap) {
  if (buf == nullptr || cap == 0) return;
  const size_t n = std::min(text.size(), cap - 1);
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

int Fail(int code, const std::string& message, char* err, size_t err_cap) {
  CopyText(message, err, err_cap);
  return code;
}

// The codes an entry point returns for exceptions that escape its body: the Trainer
// throws when torch fails or memory runs out (trainer.h), and this is where that stops.
struct ExceptionCodes {
  int other;
  int out_of_memory;
};
// Running a unit or averaging states tells memory apart; the other entry points report
// every exception as one code, as they did before API version 2.
constexpr ExceptionCodes kModelExceptions{CEREBRO_ERR_MODEL, CEREBRO_ERR_OUT_OF_MEMORY};
constexpr ExceptionCodes AllAs(int code) { return {code, code}; }

// Runs `body` (which returns a CEREBRO_* code), turning any escaping exception into a
// code of `codes` plus its message. Nothing thrown may unwind into a C caller.
template <typename Body>
int Guarded(ExceptionCodes codes, char* err, size_t err_cap, Body&& body) noexcept {
  try {
    CopyText("", err, err_cap);
    return body();
  } catch (const c10::Error& e) {
    const bool oom = cerebro::train::IsOutOfMemory(e);
    return Fail(oom ? codes.out_of_memory : codes.other, cerebro::train::TorchMessage(e), err,
                err_cap);
  } catch (const std::bad_alloc&) {
    return Fail(codes.out_of_memory, "out of memory", err, err_cap);
  } catch (const std::exception& e) {
    return Fail(codes.other, e.what(), err, err_cap);
  } catch (...) {
    return Fail(codes.other, "unknown exception", err, err_cap);
  }
}

// The mapping documented on Trainer::RunUnit.
int UnitErrorCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return CEREBRO_ERR_INVALID;
    case StatusCode::kDataLoss:
      return CEREBRO_ERR_STATE;
    case StatusCode::kFailedPrecondition:
      return CEREBRO_ERR_DATA;
    case StatusCode::kAborted:
      return CEREBRO_ERR_NON_FINITE;
    default:
      return CEREBRO_ERR_MODEL;
  }
}

}  // namespace

extern "C" {

int cerebro_worker_create(int intra_op_threads, CerebroWorker** out, char* warning,
                          size_t warning_cap, char* err, size_t err_cap) {
  CopyText("", warning, warning_cap);
  return Guarded(AllAs(CEREBRO_ERR_MODEL), err, err_cap, [&]() {
    if (out == nullptr) return Fail(CEREBRO_ERR_INVALID, "out is NULL", err, err_cap);
    *out = nullptr;
    Status st = cerebro::train::ConfigureProcess(intra_op_threads);
    if (!st.ok()) return Fail(CEREBRO_ERR_INVALID, st.message(), err, err_cap);
    CopyText(cerebro::train::BlasWarning(), warning, warning_cap);
    // The one owning raw pointer in the project: the C caller owns the handle and gives
    // it back through cerebro_worker_destroy.
    *out = std::make_unique<CerebroWorker>().release();
    return static_cast<int>(CEREBRO_OK);
  });
}

void cerebro_worker_destroy(CerebroWorker* worker) {
  try {
    std::unique_ptr<CerebroWorker> owned(worker);
  } catch (...) {
    // Destructors of tensors do not throw; nothing to report from a void function.
  }
}

int cerebro_worker_load_partition(CerebroWorker* worker, const char* store_dir, const char* kind,
                                  int index, char* err, size_t err_cap) {
  return Guarded(AllAs(CEREBRO_ERR_DATA), err, err_cap, [&]() {
    if (worker == nullptr || store_dir == nullptr || kind == nullptr) {
      return Fail(CEREBRO_ERR_INVALID, "worker, store_dir and kind must not be NULL", err, err_cap);
    }
    cerebro::train::PartitionKind partition_kind;
    if (std::strcmp(kind, "train") == 0) {
      partition_kind = cerebro::train::PartitionKind::kTrain;
    } else if (std::strcmp(kind, "val") == 0) {
      partition_kind = cerebro::train::PartitionKind::kVal;
    } else {
      return Fail(CEREBRO_ERR_INVALID,
                  std::string("kind must be \"train\" or \"val\", got \"") + kind + "\"", err,
                  err_cap);
    }
    Status st = worker->trainer.LoadPartition(store_dir, partition_kind, index);
    if (!st.ok()) return Fail(CEREBRO_ERR_DATA, st.message(), err, err_cap);
    return static_cast<int>(CEREBRO_OK);
  });
}

int cerebro_worker_run_unit(CerebroWorker* worker, const CerebroUnitRequest* request,
                            CerebroUnitResult* result, char* err, size_t err_cap) {
  if (result != nullptr) *result = CerebroUnitResult{};  // state NULL on every failure
  return Guarded(kModelExceptions, err, err_cap, [&]() {
    if (worker == nullptr || request == nullptr || result == nullptr) {
      return Fail(CEREBRO_ERR_INVALID, "worker, request and result must not be NULL", err, err_cap);
    }
    if (request->model_config_json == nullptr) {
      return Fail(CEREBRO_ERR_INVALID, "model_config_json is NULL", err, err_cap);
    }
    cerebro::train::UnitRequest req;
    req.model_config_json = request->model_config_json;
    req.train = request->train != 0;
    req.init_seed = request->init_seed;
    req.unit_seed = request->unit_seed;
    req.state = request->state;
    req.state_size = request->state_size;
    double file_seconds = 0;
    std::string read;  // the input state, when read from its file; freed once decoded
    if (request->state_path != nullptr && request->state_path[0] != '\0') {
      const double t0 = cerebro::MonotonicSeconds();
      auto bytes = cerebro::train::ReadStateFile(request->state_path, request->state_file_size,
                                                 request->state_file_hash);
      if (!bytes.ok()) return Fail(CEREBRO_ERR_STATE_FILE, bytes.status().message(), err, err_cap);
      read = std::move(bytes).value();
      req.state = reinterpret_cast<const uint8_t*>(read.data());
      req.state_size = read.size();
      req.state_verified = request->state_file_size != 0;  // ReadStateFile checked the hash
      file_seconds += cerebro::MonotonicSeconds() - t0;
    }
    auto unit = worker->trainer.RunUnit(req, [&read] { std::string().swap(read); });
    if (!unit.ok())
      return Fail(UnitErrorCode(unit.status()), unit.status().message(), err, err_cap);
    result->loss_sum = unit->loss_sum;
    result->correct = unit->correct;
    result->num_examples = unit->num_examples;
    result->compute_seconds = unit->compute_seconds;
    result->state_seconds = unit->state_seconds;
    result->state_size = unit->state.size();
    const bool to_file = request->out_path != nullptr && request->out_path[0] != '\0';
    if (!to_file || !req.train) {
      result->file_seconds = file_seconds;
      result->state = unit->state.Release();  // freed by cerebro_buffer_free (NULL for eval)
      return static_cast<int>(CEREBRO_OK);
    }
    const double t0 = cerebro::MonotonicSeconds();
    const std::string_view bytes(reinterpret_cast<const char*>(unit->state.data()),
                                 unit->state.size());
    Status written = cerebro::train::WriteStateFile(request->out_path, bytes,
                                                    request->out_durable != 0);
    if (!written.ok()) return Fail(CEREBRO_ERR_STATE_FILE, written.message(), err, err_cap);
    result->state_hash = cerebro::Hash64(bytes.data(), bytes.size());
    result->file_seconds = file_seconds + (cerebro::MonotonicSeconds() - t0);
    return static_cast<int>(CEREBRO_OK);
  });
}

int cerebro_validate_model_config(const char* model_config_json, char* err, size_t err_cap) {
  return Guarded(AllAs(CEREBRO_ERR_INVALID), err, err_cap, [&]() {
    if (model_config_json == nullptr) {
      return Fail(CEREBRO_ERR_INVALID, "model_config_json is NULL", err, err_cap);
    }
    auto config = cerebro::model::ParseModelConfig(model_config_json);
    if (!config.ok()) return Fail(CEREBRO_ERR_INVALID, config.status().message(), err, err_cap);
    return static_cast<int>(CEREBRO_OK);
  });
}

void cerebro_buffer_free(uint8_t* buffer) { std::free(buffer); }

int cerebro_average_states(const char* model_config_json, const int64_t* feature_shape,
                           int feature_rank, int64_t num_outputs, const uint8_t* const* states,
                           const size_t* state_sizes, int n, uint8_t** out_state,
                           size_t* out_size, char* err, size_t err_cap) {
  if (out_state != nullptr) *out_state = nullptr;
  if (out_size != nullptr) *out_size = 0;
  return Guarded(kModelExceptions, err, err_cap, [&]() {
    if (model_config_json == nullptr || feature_shape == nullptr || states == nullptr ||
        state_sizes == nullptr || out_state == nullptr || out_size == nullptr || n < 1 ||
        feature_rank < 1) {
      return Fail(CEREBRO_ERR_INVALID, "average: bad arguments", err, err_cap);
    }
    std::vector<int64_t> shape(feature_shape, feature_shape + feature_rank);
    std::vector<std::pair<const uint8_t*, size_t>> list;
    for (int i = 0; i < n; ++i) list.emplace_back(states[i], state_sizes[i]);
    auto avg = cerebro::train::AverageStates(model_config_json, shape, num_outputs, list);
    if (!avg.ok()) return Fail(UnitErrorCode(avg.status()), avg.status().message(), err, err_cap);
    *out_size = avg->size();
    *out_state = avg->Release();
    return static_cast<int>(CEREBRO_OK);
  });
}

int cerebro_model_num_parameters(const char* model_config_json, const int64_t* feature_shape,
                                 int feature_rank, int64_t num_outputs, int64_t* out, char* err,
                                 size_t err_cap) {
  return Guarded(AllAs(CEREBRO_ERR_MODEL), err, err_cap, [&]() {
    if (model_config_json == nullptr || feature_shape == nullptr || out == nullptr ||
        feature_rank < 1 || num_outputs < 1) {
      return Fail(CEREBRO_ERR_INVALID, "num_parameters: bad arguments", err, err_cap);
    }
    auto config = cerebro::model::ParseModelConfig(model_config_json);
    if (!config.ok()) return Fail(CEREBRO_ERR_INVALID, config.status().message(), err, err_cap);
    const cerebro::model::InputSpec input{
        std::vector<int64_t>(feature_shape, feature_shape + feature_rank), num_outputs};
    auto net = cerebro::model::BuildNet(*config, input);
    if (!net.ok()) return Fail(UnitErrorCode(net.status()), net.status().message(), err, err_cap);
    int64_t n = 0;
    for (const torch::Tensor& p : net->module->parameters()) {
      if (p.requires_grad()) n += p.numel();
    }
    *out = n;
    return static_cast<int>(CEREBRO_OK);
  });
}

int cerebro_blas_suggested_coretype(char* buf, size_t cap) {
  try {
    std::string core = cerebro::train::SuggestedOpenBlasCoreType();
    CopyText(core, buf, cap);
    return core.empty() ? 0 : 1;
  } catch (...) {
    return 0;
  }
}

}  // extern "C"

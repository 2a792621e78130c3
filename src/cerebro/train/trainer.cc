#include "cerebro/train/trainer.h"

#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <utility>
#include <vector>

#include "cerebro/common/rng.h"
#include "cerebro/model/registry.h"

namespace cerebro::train {

// ---- MallocBuffer ---------------------------------------------------------------------

MallocBuffer& MallocBuffer::operator=(MallocBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void MallocBuffer::Reserve(size_t capacity) {
  if (capacity <= capacity_) return;
  void* grown = std::realloc(data_, capacity);
  if (grown == nullptr) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(grown);
  capacity_ = capacity;
}

void MallocBuffer::Append(const void* bytes, size_t n) {
  if (size_ + n > capacity_) Reserve(std::max(size_ + n, capacity_ * 2));
  if (n > 0) std::memcpy(data_ + size_, bytes, n);
  size_ += n;
}

uint8_t* MallocBuffer::Release() {
  size_ = capacity_ = 0;
  return std::exchange(data_, nullptr);
}

// ---- partitions ------------------------------------------------------------------------

// The dataset plus torch views over its vectors. The Partition lives behind a
// unique_ptr and the vectors are never resized, so the views stay valid.
struct Trainer::Partition {
  data::Dataset dataset;
  // float32 [n, *feature_shape] aliasing dataset.features, or uint8 aliasing
  // dataset.byte_features (decoded per batch through byte_table).
  torch::Tensor x;
  torch::Tensor y;  // int64 [n] (classification) or float32 [n] (regression)
  std::array<float, 256> byte_table{};

  // Examples idx[0..count) as a float32 batch. One batch-sized copy; the partition
  // itself is never copied.
  torch::Tensor Rows(const int64_t* idx, int64_t count) const {
    if (dataset.encoding == data::FeatureEncoding::kFloat32) {
      // from_blob only reads idx here; index_select does not keep it.
      torch::Tensor idx_t = torch::from_blob(const_cast<int64_t*>(idx), {count}, torch::kLong);
      return x.index_select(0, idx_t);
    }
    torch::Tensor out = NewBatch(count);
    const int64_t size = dataset.example_size();
    float* dst = out.data_ptr<float>();
    for (int64_t i = 0; i < count; ++i) {
      Decode(dataset.byte_features.data() + idx[i] * size, size, dst + i * size);
    }
    return out;
  }

  // Examples [lo, hi) as a float32 batch (a view when the features are float32).
  torch::Tensor Range(int64_t lo, int64_t hi) const {
    if (dataset.encoding == data::FeatureEncoding::kFloat32) return x.slice(0, lo, hi);
    torch::Tensor out = NewBatch(hi - lo);
    const int64_t size = dataset.example_size();
    Decode(dataset.byte_features.data() + lo * size, (hi - lo) * size, out.data_ptr<float>());
    return out;
  }

 private:
  torch::Tensor NewBatch(int64_t count) const {
    std::vector<int64_t> shape = {count};
    shape.insert(shape.end(), dataset.feature_shape.begin(), dataset.feature_shape.end());
    return torch::empty(shape, torch::kFloat);
  }
  void Decode(const uint8_t* src, int64_t count, float* dst) const {
    for (int64_t j = 0; j < count; ++j) dst[j] = byte_table[src[j]];
  }
};

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Eval batches are larger than training ones: no activations are kept for backward, and
// fewer, larger GEMMs are faster.
constexpr int64_t kEvalBatchSize = 1024;

// Precedes the torch archive so that bytes that are not a Cerebro state are rejected
// before torch parses them; the digit is the state format version.
constexpr char kStateMagic[8] = {'C', 'R', 'B', 'S', 'T', 'A', 'T', '1'};
// Magic, then the checksum of the archive bytes (uint64, little endian).
constexpr size_t kStateHeaderSize = 16;

// A checksum of the archive. Torch's zip reader does not notice flipped bytes inside
// tensor data, and a state travels through other processes, object stores and disks;
// loading silently corrupted weights must not happen. xxHash64-style: four independent
// multiply-rotate lanes run at memory speed (~1 ms for a 15 MB Adam state).
uint64_t Checksum(const uint8_t* p, size_t n) {
  constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t acc, uint64_t word) { return rotl(acc + word * kP2, 31) * kP1; };
  uint64_t lane[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t word;
      std::memcpy(&word, p + i + 8 * l, 8);
      lane[l] = round(lane[l], word);
    }
  }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  h ^= static_cast<uint64_t>(n) * kP1;
  for (; i < n; ++i) h = rotl(h ^ (p[i] * kP2), 11) * kP1;
  return Mix64(h);
}

void StoreLittleEndian64(uint64_t v, uint8_t* out) {
  for (int b = 0; b < 8; ++b) out[b] = static_cast<uint8_t>(v >> (8 * b));
}

uint64_t LoadLittleEndian64(const uint8_t* in) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(in[b]) << (8 * b);
  return v;
}

std::string TorchMessage(const c10::Error& e) { return e.what_without_backtrace(); }

std::string ShapeString(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// A Fisher-Yates shuffle driven by mt19937_64 with rejection sampling: unlike
// std::shuffle / uniform_int_distribution its output is specified, so the example order
// for a seed is the same with every standard library.
std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 gen(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t bound = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do {
      r = gen();
    } while (r >= limit);
    std::swap(order[i], order[r % bound]);
  }
  return order;
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const model::ModelConfig& config,
                                                       std::vector<torch::Tensor> params) {
  switch (config.optimizer) {
    case model::OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGD>(std::move(params),
                                                 torch::optim::SGDOptions(config.lr)
                                                     .momentum(config.momentum)
                                                     .weight_decay(config.weight_decay));
    case model::OptimizerKind::kAdam:
      return std::make_unique<torch::optim::Adam>(
          std::move(params),
          torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
    case model::OptimizerKind::kAdamW:
      return std::make_unique<torch::optim::AdamW>(
          std::move(params),
          torch::optim::AdamWOptions(config.lr).weight_decay(config.weight_decay));
  }
  return nullptr;  // unreachable: the enum is exhaustive
}

// ---- model state ----------------------------------------------------------------------
//
// Layout: kStateMagic, the archive's checksum, then one torch archive holding
//   "model"           the module's parameters and buffers (Module::save)
//   "optimizer"       per-parameter optimizer state, keyed by the parameter's index in
//                     module->parameters() order:
//                       "n"             int64: number of parameters
//                       "has_state"     int64 [n], 1 where the optimizer has state
//                       "p<i>_step", "p<i>_exp_avg", "p<i>_exp_avg_sq"   (adam, adamw)
//                       "p<i>_momentum_buffer"                           (sgd)
//   "optimizer_kind"  int64 OptimizerKind
// Why not Optimizer::save: it keys the state by TensorImpl addresses, so equal states
// would serialize to different bytes from run to run, and we want a unit's output to be
// bitwise reproducible. Hyperparameters (lr, ...) are not stored: each unit's config
// wins, so a search procedure (e.g. PBT) may change them between units.

std::string ParamKey(const torch::Tensor& p) {
  // How LibTorch's optimizers key their per-parameter state.
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

std::string SlotKey(size_t i, const char* slot) { return "p" + std::to_string(i) + "_" + slot; }

void SaveOptimizer(torch::optim::Optimizer& optimizer, model::OptimizerKind kind,
                   torch::serialize::OutputArchive& archive) {
  const std::vector<torch::Tensor>& params = optimizer.param_groups().at(0).params();
  auto& state = optimizer.state();
  std::vector<int64_t> has_state(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(ParamKey(params[i]));
    if (it == state.end()) continue;
    has_state[i] = 1;
    if (kind == model::OptimizerKind::kSgd) {
      auto& st = static_cast<torch::optim::SGDParamState&>(*it->second);
      archive.write(SlotKey(i, "momentum_buffer"), st.momentum_buffer());
    } else if (kind == model::OptimizerKind::kAdam) {
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      archive.write(SlotKey(i, "step"), torch::tensor(st.step()));
      archive.write(SlotKey(i, "exp_avg"), st.exp_avg());
      archive.write(SlotKey(i, "exp_avg_sq"), st.exp_avg_sq());
    } else {
      auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
      archive.write(SlotKey(i, "step"), torch::tensor(st.step()));
      archive.write(SlotKey(i, "exp_avg"), st.exp_avg());
      archive.write(SlotKey(i, "exp_avg_sq"), st.exp_avg_sq());
    }
  }
  archive.write("n", torch::tensor(static_cast<int64_t>(params.size())));
  archive.write("has_state", torch::tensor(has_state));
}

// Reads one optimizer slot and checks it matches its parameter's shape.
torch::Tensor ReadSlot(torch::serialize::InputArchive& archive, size_t i, const char* slot,
                       const torch::Tensor& param) {
  torch::Tensor t;
  archive.read(SlotKey(i, slot), t);
  TORCH_CHECK(t.sizes() == param.sizes(), "optimizer slot ", SlotKey(i, slot), " has shape ",
              t.sizes(), ", the parameter has ", param.sizes());
  return t;
}

void LoadOptimizer(torch::serialize::InputArchive& archive, model::OptimizerKind kind,
                   torch::optim::Optimizer& optimizer) {
  const std::vector<torch::Tensor>& params = optimizer.param_groups().at(0).params();
  torch::Tensor n, has_state;
  archive.read("n", n);
  archive.read("has_state", has_state);
  TORCH_CHECK(n.item<int64_t>() == static_cast<int64_t>(params.size()) &&
                  has_state.numel() == n.item<int64_t>(),
              "optimizer state is for ", n.item<int64_t>(), " parameters, the model has ",
              params.size());
  auto& state = optimizer.state();
  for (size_t i = 0; i < params.size(); ++i) {
    if (has_state[i].item<int64_t>() == 0) continue;
    const torch::Tensor& p = params[i];
    if (kind == model::OptimizerKind::kSgd) {
      auto st = std::make_unique<torch::optim::SGDParamState>();
      st->momentum_buffer(ReadSlot(archive, i, "momentum_buffer", p));
      state[ParamKey(p)] = std::move(st);
      continue;
    }
    torch::Tensor step;
    archive.read(SlotKey(i, "step"), step);
    if (kind == model::OptimizerKind::kAdam) {
      auto st = std::make_unique<torch::optim::AdamParamState>();
      st->step(step.item<int64_t>());
      st->exp_avg(ReadSlot(archive, i, "exp_avg", p));
      st->exp_avg_sq(ReadSlot(archive, i, "exp_avg_sq", p));
      state[ParamKey(p)] = std::move(st);
    } else {
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(step.item<int64_t>());
      st->exp_avg(ReadSlot(archive, i, "exp_avg", p));
      st->exp_avg_sq(ReadSlot(archive, i, "exp_avg_sq", p));
      state[ParamKey(p)] = std::move(st);
    }
  }
}

void EncodeState(const model::Net& net, torch::optim::Optimizer& optimizer,
                 model::OptimizerKind kind, MallocBuffer* out) {
  size_t param_bytes = 0;
  for (const auto& p : net.module->parameters()) param_bytes += p.nbytes();
  for (const auto& b : net.module->buffers()) param_bytes += b.nbytes();
  // Adam keeps two moments per parameter; reserving up front avoids regrowing (and
  // copying) a multi-megabyte buffer while torch streams the archive out.
  out->Reserve(kStateHeaderSize + 3 * param_bytes + (64 << 10));
  out->Append(kStateMagic, sizeof(kStateMagic));
  const uint8_t no_checksum_yet[8] = {};
  out->Append(no_checksum_yet, sizeof(no_checksum_yet));

  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive(archive.compilation_unit());
  net.module->save(model_archive);
  archive.write("model", model_archive);
  torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
  SaveOptimizer(optimizer, kind, optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("optimizer_kind", torch::tensor(static_cast<int64_t>(kind)));
  archive.save_to([out](const void* bytes, size_t n) -> size_t {
    out->Append(bytes, n);
    return n;
  });
  const uint64_t checksum =
      Checksum(out->data() + kStateHeaderSize, out->size() - kStateHeaderSize);
  StoreLittleEndian64(checksum, out->mutable_data() + sizeof(kStateMagic));
}

// Loads `state` into the freshly built net (and optimizer, if given). Every failure is
// DataLoss: the bytes do not describe this model.
Status DecodeState(const uint8_t* state, size_t size, const model::Net& net,
                   torch::optim::Optimizer* optimizer, model::OptimizerKind kind) {
  if (size < kStateHeaderSize || std::memcmp(state, kStateMagic, sizeof(kStateMagic)) != 0) {
    return DataLoss("model state: not a Cerebro model state (bad header)");
  }
  if (Checksum(state + kStateHeaderSize, size - kStateHeaderSize) !=
      LoadLittleEndian64(state + sizeof(kStateMagic))) {
    return DataLoss("model state: checksum mismatch (corrupt or truncated)");
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(reinterpret_cast<const char*>(state) + kStateHeaderSize,
                      size - kStateHeaderSize);

    // Module::load replaces each tensor's storage without comparing shapes, so a state
    // from a different architecture with the same layer names would load silently.
    std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
    for (const auto& item : net.module->named_parameters()) {
      expected.emplace_back(item.key(), item.value().sizes().vec());
    }
    for (const auto& item : net.module->named_buffers()) {
      expected.emplace_back(item.key(), item.value().sizes().vec());
    }
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    net.module->load(model_archive);
    size_t i = 0;
    for (const auto& item : net.module->named_parameters()) {
      if (item.value().sizes().vec() != expected[i].second) {
        return DataLoss("model state: parameter '" + item.key() + "' has shape " +
                        ShapeString(item.value().sizes()) + ", the model expects " +
                        ShapeString(expected[i].second));
      }
      ++i;
    }
    for (const auto& item : net.module->named_buffers()) {
      if (item.value().sizes().vec() != expected[i].second) {
        return DataLoss("model state: buffer '" + item.key() + "' has the wrong shape");
      }
      ++i;
    }

    if (optimizer != nullptr) {
      torch::Tensor saved_kind;
      archive.read("optimizer_kind", saved_kind);
      // A config whose optimizer changed between units (a search may mutate it) starts
      // that optimizer afresh on the trained weights rather than failing.
      if (saved_kind.item<int64_t>() == static_cast<int64_t>(kind)) {
        torch::serialize::InputArchive optimizer_archive;
        archive.read("optimizer", optimizer_archive);
        LoadOptimizer(optimizer_archive, kind, *optimizer);
      }
    }
  } catch (const c10::Error& e) {
    return DataLoss("model state: " + TorchMessage(e));
  } catch (const std::exception& e) {
    return DataLoss(std::string("model state: ") + e.what());
  }
  return Status::Ok();
}

enum class Loss { kCrossEntropy, kMse };

torch::Tensor ComputeLoss(Loss loss, const torch::Tensor& out, const torch::Tensor& y,
                          int64_t reduction) {
  if (loss == Loss::kCrossEntropy) return torch::cross_entropy_loss(out, y, {}, reduction);
  return torch::mse_loss(out.reshape({-1}), y, reduction);
}

// A model ready to run: built, optionally restored, with its optimizer (train only).
struct Session {
  model::ModelConfig config;
  model::Net net;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  Loss loss = Loss::kCrossEntropy;
  bool classification = true;
};

// Builds the model of `request` for `part`'s data and restores its state if given.
StatusOr<Session> OpenSession(const UnitRequest& request, const Trainer::Partition* part,
                              double* state_seconds) {
  Session s;
  ASSIGN_OR_RETURN(s.config, model::ParseModelConfig(request.model_config_json));
  if (part == nullptr) {
    return FailedPrecondition(std::string("no ") + (request.train ? "train" : "val") +
                              " partition loaded");
  }
  const data::Dataset& ds = part->dataset;
  s.classification = ds.task == data::Task::kClassification;
  s.loss = s.classification ? Loss::kCrossEntropy : Loss::kMse;
  if (s.config.loss == model::LossKind::kCrossEntropy && !s.classification) {
    return model::Params::FieldError("loss", "cross_entropy needs a classification task");
  }
  if (s.config.loss == model::LossKind::kMse && s.classification) {
    return model::Params::FieldError("loss", "mse needs a regression task");
  }

  model::InputSpec input{ds.feature_shape, s.classification ? ds.num_classes : 1};
  // Weight initialisation draws from torch's global generator; seeding it here makes
  // the initial weights a function of init_seed alone.
  torch::manual_seed(request.init_seed);
  ASSIGN_OR_RETURN(s.net, model::BuildNet(s.config, input));
  if (request.train) s.optimizer = MakeOptimizer(s.config, s.net.module->parameters());

  if (request.state_size > 0) {
    if (request.state == nullptr) return InvalidArgument("state is NULL but state_size > 0");
    auto start = Clock::now();
    RETURN_IF_ERROR(DecodeState(request.state, request.state_size, s.net, s.optimizer.get(),
                                s.config.optimizer));
    *state_seconds += SecondsSince(start);
  }
  return s;
}

// One pass over the partition: training (shuffled, mini-batches, optimizer steps) or
// evaluation (in order, no grad). Fills the metrics and compute_seconds of `result`.
Status RunPass(Session& s, const Trainer::Partition& part, bool train, uint64_t unit_seed,
               UnitResult* result) {
  const int64_t n = part.dataset.num_examples();
  int64_t correct = 0;
  double loss_sum = 0;
  auto start = Clock::now();
  if (train) {
    s.net.module->train();
    // Dropout (and anything else random in a user's model) draws from the global
    // generator: seeding it per unit makes the pass a function of unit_seed.
    torch::manual_seed(unit_seed);
    std::vector<int64_t> order = ShuffledOrder(n, DeriveSeed(unit_seed, "unit_order"));
    torch::Tensor order_t = torch::from_blob(order.data(), {n}, torch::kLong);
    const int64_t batch_size = s.config.batch_size;
    const int64_t num_batches = (n + batch_size - 1) / batch_size;
    for (int64_t b = 0; b < num_batches; ++b) {
      const int64_t lo = b * batch_size, hi = std::min(n, lo + batch_size);
      torch::Tensor idx = order_t.slice(0, lo, hi);
      torch::Tensor xb = part.Rows(order.data() + lo, hi - lo);
      torch::Tensor yb = part.y.index_select(0, idx);
      s.optimizer->zero_grad();
      torch::Tensor out = s.net.forward(xb);
      torch::Tensor batch_loss = ComputeLoss(s.loss, out, yb, at::Reduction::Mean);
      const double value = batch_loss.item<double>();
      if (!std::isfinite(value)) {
        return Aborted("non-finite loss at batch " + std::to_string(b) + " of " +
                       std::to_string(num_batches));
      }
      batch_loss.backward();
      s.optimizer->step();
      // Weighted by the batch's size so that the partial last batch counts correctly.
      loss_sum += value * static_cast<double>(hi - lo);
      if (s.classification) {
        torch::NoGradGuard no_grad;
        correct += out.argmax(1).eq(yb).sum().item<int64_t>();
      }
    }
  } else {
    s.net.module->eval();
    torch::NoGradGuard no_grad;
    for (int64_t lo = 0; lo < n; lo += kEvalBatchSize) {
      const int64_t hi = std::min(n, lo + kEvalBatchSize);
      torch::Tensor out = s.net.forward(part.Range(lo, hi));
      torch::Tensor yb = part.y.slice(0, lo, hi);
      loss_sum += ComputeLoss(s.loss, out, yb, at::Reduction::Sum).item<double>();
      if (s.classification) correct += out.argmax(1).eq(yb).sum().item<int64_t>();
    }
  }
  result->compute_seconds = SecondsSince(start);
  result->loss_sum = loss_sum;
  result->correct = static_cast<double>(correct);
  result->num_examples = n;
  return Status::Ok();
}

void FinishTrainUnit(Session& s, UnitResult* result) {
  auto start = Clock::now();
  EncodeState(s.net, *s.optimizer, s.config.optimizer, &result->state);
  result->state_seconds += SecondsSince(start);
}

StatusOr<UnitResult> RunUnitImpl(const UnitRequest& request, const Trainer::Partition* part) {
  UnitResult result;
  ASSIGN_OR_RETURN(Session s, OpenSession(request, part, &result.state_seconds));
  RETURN_IF_ERROR(RunPass(s, *part, request.train, request.unit_seed, &result));
  if (request.train) FinishTrainUnit(s, &result);
  return result;
}

StatusOr<std::vector<UnitResult>> RunUnitsImpl(const std::vector<UnitRequest>& requests,
                                               const Trainer::Partition* part) {
  std::vector<UnitResult> results(requests.size());
  if (requests.empty()) return results;
  for (const auto& r : requests) {
    if (!r.train || r.model_config_json != requests.front().model_config_json) {
      return InvalidArgument("RunUnits: every request must be a train unit of the same config");
    }
  }
  ASSIGN_OR_RETURN(Session s, OpenSession(requests.front(), part, &results.front().state_seconds));
  for (size_t i = 0; i < requests.size(); ++i) {
    RETURN_IF_ERROR(RunPass(s, *part, /*train=*/true, requests[i].unit_seed, &results[i]));
  }
  FinishTrainUnit(s, &results.back());
  return results;
}

// Element-wise mean of `tensors` written into `target` (no autograd).
void AverageInto(torch::Tensor target, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  torch::Tensor sum = torch::zeros_like(target, torch::kDouble);
  for (const auto& t : tensors) sum.add_(t.to(torch::kDouble));
  target.copy_(sum.div_(static_cast<double>(tensors.size())));
}

StatusOr<MallocBuffer> AverageStatesImpl(const std::string& config_json,
                                         const model::InputSpec& input,
                                         const std::vector<std::pair<const uint8_t*, size_t>>& states) {
  if (states.empty()) return InvalidArgument("average: no states");
  ASSIGN_OR_RETURN(model::ModelConfig config, model::ParseModelConfig(config_json));
  struct Copy {
    model::Net net;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
  };
  std::vector<Copy> copies(states.size());
  for (size_t k = 0; k < states.size(); ++k) {
    ASSIGN_OR_RETURN(copies[k].net, model::BuildNet(config, input));
    copies[k].optimizer = MakeOptimizer(config, copies[k].net.module->parameters());
    RETURN_IF_ERROR(DecodeState(states[k].first, states[k].second, copies[k].net,
                                copies[k].optimizer.get(), config.optimizer));
  }
  Copy& target = copies[0];
  auto params_of = [](Copy& c) { return c.net.module->parameters(); };
  std::vector<std::vector<torch::Tensor>> params;
  for (auto& c : copies) params.push_back(params_of(c));
  for (size_t i = 0; i < params[0].size(); ++i) {
    std::vector<torch::Tensor> all;
    for (auto& p : params) all.push_back(p[i]);
    AverageInto(params[0][i], all);
    // Optimizer state, slot by slot (absent where a parameter never got a gradient).
    std::vector<torch::optim::OptimizerParamState*> st;
    for (size_t k = 0; k < copies.size(); ++k) {
      auto& map = copies[k].optimizer->state();
      auto it = map.find(ParamKey(params[k][i]));
      if (it == map.end()) break;
      st.push_back(it->second.get());
    }
    if (st.size() != copies.size()) continue;
    auto average_slot = [&](auto getter) {
      std::vector<torch::Tensor> slot;
      for (auto* x : st) slot.push_back(getter(x));
      AverageInto(getter(st[0]), slot);
    };
    if (config.optimizer == model::OptimizerKind::kSgd) {
      average_slot([](auto* x) { return static_cast<torch::optim::SGDParamState*>(x)->momentum_buffer(); });
    } else if (config.optimizer == model::OptimizerKind::kAdam) {
      average_slot([](auto* x) { return static_cast<torch::optim::AdamParamState*>(x)->exp_avg(); });
      average_slot([](auto* x) { return static_cast<torch::optim::AdamParamState*>(x)->exp_avg_sq(); });
    } else {
      average_slot([](auto* x) { return static_cast<torch::optim::AdamWParamState*>(x)->exp_avg(); });
      average_slot([](auto* x) { return static_cast<torch::optim::AdamWParamState*>(x)->exp_avg_sq(); });
    }
  }
  MallocBuffer out;
  EncodeState(target.net, *target.optimizer, config.optimizer, &out);
  return out;
}

// Torch reports failures as exceptions; they stop here (see STYLE.md).
template <typename Fn>
auto ContainTorchErrors(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return Internal("model failed: " + TorchMessage(e));
  } catch (const std::bad_alloc&) {
    return Internal("model failed: out of memory");
  } catch (const std::exception& e) {
    return Internal(std::string("model failed: ") + e.what());
  }
}

}  // namespace

// ---- Trainer -----------------------------------------------------------------------------

Trainer::Trainer() = default;
Trainer::~Trainer() = default;

Status Trainer::SetPartition(PartitionKind kind, data::Dataset dataset) {
  const char* name = kind == PartitionKind::kTrain ? "train" : "val";
  auto fail = [name](const std::string& what) {
    return DataLoss(std::string(name) + " partition: " + what);
  };
  int64_t example_size = 1;
  for (int64_t d : dataset.feature_shape) {
    if (d < 1) return fail("feature_shape has a non-positive dimension");
    example_size *= d;
  }
  if (dataset.feature_shape.empty()) return fail("empty feature_shape");
  const bool classification = dataset.task == data::Task::kClassification;
  const int64_t n = classification ? static_cast<int64_t>(dataset.int_labels.size())
                                   : static_cast<int64_t>(dataset.float_labels.size());
  const bool bytes = dataset.encoding == data::FeatureEncoding::kUint8;
  if (dataset.num_feature_values() != n * example_size ||
      !(bytes ? dataset.features.empty() : dataset.byte_features.empty())) {
    return fail("features hold " + std::to_string(dataset.num_feature_values()) +
                " values, expected " + std::to_string(n) + " x " + std::to_string(example_size));
  }
  if (bytes && !data::ByteFeatureScaleIsFinite(dataset.byte_feature_scale)) {
    return fail("byte_feature_scale makes features non-finite");
  }
  if (n != dataset.num_examples()) return fail("label count disagrees with num_examples");
  if (classification) {
    if (dataset.num_classes < 1) return fail("num_classes must be >= 1");
    for (int64_t label : dataset.int_labels) {
      if (label < 0 || label >= dataset.num_classes) {
        return fail("label " + std::to_string(label) + " outside [0, " +
                    std::to_string(dataset.num_classes) + ")");
      }
    }
  }

  auto part = std::make_unique<Partition>();
  part->dataset = std::move(dataset);
  data::Dataset& ds = part->dataset;
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), ds.feature_shape.begin(), ds.feature_shape.end());
  try {
    // from_blob: views over the vectors, no copy. Units only read them (index_select and
    // slice), never write.
    part->x = bytes ? torch::from_blob(ds.byte_features.data(), shape, torch::kByte)
                    : torch::from_blob(ds.features.data(), shape, torch::kFloat);
    if (bytes) part->byte_table = data::ByteFeatureTable(ds.byte_feature_scale);
    part->y = classification ? torch::from_blob(ds.int_labels.data(), {n}, torch::kLong)
                             : torch::from_blob(ds.float_labels.data(), {n}, torch::kFloat);
  } catch (const c10::Error& e) {
    return Internal(std::string(name) + " partition: " + TorchMessage(e));
  }
  (kind == PartitionKind::kTrain ? train_ : val_) = std::move(part);
  return Status::Ok();
}

Status Trainer::LoadPartition(const std::string& store_dir, PartitionKind kind, int index) {
  ASSIGN_OR_RETURN(
      data::Dataset dataset,
      data::LoadPartition(store_dir, kind == PartitionKind::kTrain ? "train" : "val", index));
  return SetPartition(kind, std::move(dataset));
}

StatusOr<MallocBuffer> AverageStates(const std::string& config_json,
                                     const std::vector<int64_t>& feature_shape, int64_t num_outputs,
                                     const std::vector<std::pair<const uint8_t*, size_t>>& states) {
  model::InputSpec input{feature_shape, num_outputs};
  return ContainTorchErrors([&] { return AverageStatesImpl(config_json, input, states); });
}

StatusOr<UnitResult> Trainer::RunUnit(const UnitRequest& request) {
  return ContainTorchErrors(
      [&] { return RunUnitImpl(request, request.train ? train_.get() : val_.get()); });
}

StatusOr<std::vector<UnitResult>> Trainer::RunUnits(const std::vector<UnitRequest>& requests) {
  return ContainTorchErrors([&] { return RunUnitsImpl(requests, train_.get()); });
}

// ---- process settings ---------------------------------------------------------------------

Status ConfigureProcess(int threads) {
  if (threads < 1) return InvalidArgument("intra_op_threads must be >= 1");
  try {
    // Flush denormals to zero. Adam with weight decay drives many weights and moments
    // into the denormal range late in training, and x86 handles denormals in microcode:
    // measured here, units of such a model slowed from 2.7 s to 15 s by epoch 5. Set
    // before any pool starts, so OpenMP/BLAS threads inherit the mode.
    at::globalContext().setFlushDenormal(true);
    // Also sets OpenMP's thread count, which the openmp flavour of OpenBLAS follows.
    at::set_num_threads(threads);
    static std::once_flag interop_once;
    std::call_once(interop_once, [] {
      // Torch allows this only before its inter-op pool starts; if something in the
      // process already used it, the pool keeps its size, which is harmless here (units
      // run no inter-op parallel work).
      try {
        at::set_num_interop_threads(1);
      } catch (const c10::Error&) {
      }
    });
  } catch (const c10::Error& e) {
    return Internal("setting torch threads: " + TorchMessage(e));
  }
  // Keep tensor buffers in the heap instead of fresh mmap()s. glibc serves blocks above
  // its mmap threshold (128 KB, raised only after a larger block is freed) with mmap and
  // unmaps them on free, so every training step faulted its activations in again: on the
  // small CNN grid a worker took 4.9M minor faults and its training units ran ~33%
  // slower until an evaluation's larger blocks happened to raise the threshold. 32 MB is
  // the ceiling glibc's own adjustment would reach; trimming at twice it is glibc's rule.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // The pthread flavour of OpenBLAS has its own pool; set it too when present.
  using SetThreadsFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(threads);
  }
  return Status::Ok();
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// OpenBLAS picks its kernels from the CPU model at load time; a CPU newer than the
// OpenBLAS release (e.g. Sapphire Rapids with Debian's 0.3.21) falls back to the generic
// "Prescott" SSE3 kernels. Measured here (784-1000-500-10 MLP, Adam, batch 128, one
// thread): Prescott 3,300 samples/s, Haswell 5,800, SkylakeX 9,750. It can only be
// fixed before the library loads, i.e. in the worker's environment.
// The OpenBLAS kernel set this CPU deserves when OpenBLAS fell back to weaker ones
// ("" when its own choice is fine or OpenBLAS is not loaded), plus the name it chose.
std::string SuggestedCoreType(std::string* chosen) {
#if defined(__x86_64__)
  using CoreNameFn = char* (*)();
  auto corename = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr || corename() == nullptr) return "";
  const std::string core = corename();
  if (chosen != nullptr) *chosen = core;
  const std::string lower = Lower(core);
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool core_avx512 =
      lower == "skylakex" || lower == "cooperlake" || lower == "sapphirerapids";
  const bool core_avx2 = core_avx512 || lower == "haswell" || lower == "zen";
  if (avx512 && !core_avx512) return "SkylakeX";
  if (avx2 && !core_avx2) return "Haswell";
#endif
  return "";
}

std::string OpenBlasKernelWarning() {
  std::string core;
  std::string suggested = SuggestedCoreType(&core);
  if (suggested.empty()) return "";
  return "OpenBLAS runs its '" + core + "' kernels on this CPU (it does not recognise the "
         "model), which makes dense layers 2-3x slower; start workers with OPENBLAS_CORETYPE=" +
         suggested;
}

}  // namespace

std::string SuggestedOpenBlasCoreType() { return SuggestedCoreType(nullptr); }

std::string BlasWarning() {
  // Which shared object provides sgemm_ for this process (the one LibTorch's calls bind
  // to)? On Debian it is whichever libblas.so.3 the alternatives system points at.
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  char resolved[PATH_MAX];
  if (realpath(info.dli_fname, resolved) != nullptr) path = resolved;
  if (path.find("openblas") != std::string::npos) return OpenBlasKernelWarning();
  for (const char* fast : {"blis", "mkl", "atlas", "flexiblas"}) {
    if (path.find(fast) != std::string::npos) return "";
  }
  if (path.find("libblas") == std::string::npos) return "";  // bundled or unknown: trust it
  return "LibTorch is using the reference BLAS (" + path +
         "), which makes dense layers ~15x slower; install OpenBLAS (apt-get install "
         "libopenblas0-openmp) or select it with update-alternatives --config "
         "libblas.so.3-x86_64-linux-gnu";
}

}  // namespace cerebro::train

// The unit runner: a session (the model built from its config, restored from its state
// bytes, with its optimizer), one pass over a partition (train or eval), and model
// averaging. The partition, the state bytes and the optimizers live in their own files
// (see trainer.h).
#include "cerebro/train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/common/rng.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/optimizer_state.h"
#include "cerebro/train/partition.h"
#include "cerebro/train/state_codec.h"

namespace cerebro::train {
namespace {

// Eval batches are larger than training ones: no activations are kept for backward, and
// fewer, larger GEMMs are faster.
constexpr int64_t kEvalBatchSize = 1024;

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

// The loss the partition's task needs; InvalidArgument when the config asks for another.
StatusOr<Loss> LossFor(const model::ModelConfig& config, bool classification) {
  if (config.loss == model::LossKind::kCrossEntropy && !classification) {
    return model::Params::FieldError("loss", "cross_entropy needs a classification task");
  }
  if (config.loss == model::LossKind::kMse && classification) {
    return model::Params::FieldError("loss", "mse needs a regression task");
  }
  return classification ? Loss::kCrossEntropy : Loss::kMse;
}

// Builds the model of `request` for `part`'s data and restores its state if given.
StatusOr<Session> OpenSession(const UnitRequest& request, const Partition* part,
                              double* state_seconds) {
  Session s;
  ASSIGN_OR_RETURN(s.config, model::ParseModelConfig(request.model_config_json));
  if (part == nullptr) {
    return FailedPrecondition(std::string("no ") + (request.train ? "train" : "val") +
                              " partition loaded");
  }
  const data::Dataset& ds = part->dataset();
  s.classification = ds.task == data::Task::kClassification;
  ASSIGN_OR_RETURN(s.loss, LossFor(s.config, s.classification));

  model::InputSpec input{ds.feature_shape, s.classification ? ds.num_classes : 1};
  // Weight initialisation draws from torch's global generator; seeding it here makes
  // the initial weights a function of init_seed alone.
  torch::manual_seed(request.init_seed);
  ASSIGN_OR_RETURN(s.net, model::BuildNet(s.config, input));
  if (request.train) s.optimizer = MakeOptimizer(s.config, s.net.module->parameters());

  if (request.state_size > 0) {
    if (request.state == nullptr) return InvalidArgument("state is NULL but state_size > 0");
    const double start = MonotonicSeconds();
    RETURN_IF_ERROR(DecodeState(request.state, request.state_size, s.net, s.optimizer.get(),
                                s.config.optimizer, request.state_verified));
    *state_seconds += MonotonicSeconds() - start;
  }
  return s;
}

struct PassMetrics {
  double loss_sum = 0;
  int64_t correct = 0;
};

// A training pass: shuffled, mini-batches, optimizer steps. Aborted on a non-finite loss.
Status TrainPass(Session& s, const Partition& part, uint64_t unit_seed, PassMetrics* m) {
  const int64_t n = part.size();
  s.net.module->train();
  // Dropout (and anything else random in a user's model) draws from the global
  // generator: seeding it per unit makes the pass a function of unit_seed.
  torch::manual_seed(unit_seed);
  std::vector<int64_t> order = ShuffledRange<int64_t>(n, DeriveSeed(unit_seed, "unit_order"));
  torch::Tensor order_t = torch::from_blob(order.data(), {n}, torch::kLong);
  const int64_t batch_size = s.config.batch_size;
  const int64_t num_batches = (n + batch_size - 1) / batch_size;
  for (int64_t b = 0; b < num_batches; ++b) {
    const int64_t lo = b * batch_size, hi = std::min(n, lo + batch_size);
    torch::Tensor idx = order_t.slice(0, lo, hi);
    torch::Tensor xb = part.Rows(order.data() + lo, hi - lo);
    torch::Tensor yb = part.labels().index_select(0, idx);
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
    m->loss_sum += value * static_cast<double>(hi - lo);
    if (s.classification) {
      torch::NoGradGuard no_grad;
      m->correct += out.argmax(1).eq(yb).sum().item<int64_t>();
    }
  }
  return Status::Ok();
}

// An evaluation pass: in order, no grad, large batches.
void EvalPass(Session& s, const Partition& part, PassMetrics* m) {
  const int64_t n = part.size();
  s.net.module->eval();
  torch::NoGradGuard no_grad;
  for (int64_t lo = 0; lo < n; lo += kEvalBatchSize) {
    const int64_t hi = std::min(n, lo + kEvalBatchSize);
    torch::Tensor out = s.net.forward(part.Range(lo, hi));
    torch::Tensor yb = part.labels().slice(0, lo, hi);
    m->loss_sum += ComputeLoss(s.loss, out, yb, at::Reduction::Sum).item<double>();
    if (s.classification) m->correct += out.argmax(1).eq(yb).sum().item<int64_t>();
  }
}

// One pass over the partition. Fills the metrics and compute_seconds of `result`.
Status RunPass(Session& s, const Partition& part, bool train, uint64_t unit_seed,
               UnitResult* result) {
  PassMetrics m;
  const double start = MonotonicSeconds();
  if (train) {
    RETURN_IF_ERROR(TrainPass(s, part, unit_seed, &m));
  } else {
    EvalPass(s, part, &m);
  }
  result->compute_seconds = MonotonicSeconds() - start;
  result->loss_sum = m.loss_sum;
  result->correct = static_cast<double>(m.correct);
  result->num_examples = part.size();
  return Status::Ok();
}

void FinishTrainUnit(Session& s, UnitResult* result) {
  const double start = MonotonicSeconds();
  result->state = EncodeState(s.net, *s.optimizer, s.config.optimizer);
  result->state_seconds += MonotonicSeconds() - start;
}

// Element-wise mean of `tensors` written into `target` (no autograd).
void AverageInto(torch::Tensor target, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  torch::Tensor sum = torch::zeros_like(target, torch::kDouble);
  for (const auto& t : tensors) sum.add_(t.to(torch::kDouble));
  target.copy_(sum.div_(static_cast<double>(tensors.size())));
}

// A model decoded from one of the states being averaged.
struct Copy {
  model::Net net;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::Tensor> params;
};

// Averages parameter i of every copy into copies[0], and its optimizer state slot by
// slot (unless some copy has none: a parameter that never got a gradient).
void AverageParameter(std::vector<Copy>& copies, model::OptimizerKind kind, size_t i) {
  std::vector<torch::Tensor> values;
  for (Copy& c : copies) values.push_back(c.params[i]);
  AverageInto(copies[0].params[i], values);
  std::vector<std::vector<torch::Tensor>> slots;  // [copy][slot]
  for (Copy& c : copies) {
    slots.push_back(StateTensors(*c.optimizer, kind, i));
    if (slots.back().empty()) return;
  }
  for (size_t j = 0; j < slots[0].size(); ++j) {
    std::vector<torch::Tensor> slot;
    for (const auto& s : slots) slot.push_back(s[j]);
    AverageInto(slots[0][j], slot);
  }
}

}  // namespace

// ---- Trainer -----------------------------------------------------------------------------

Trainer::Trainer() = default;
Trainer::~Trainer() = default;

Status Trainer::SetPartition(PartitionKind kind, data::Dataset dataset) {
  const bool train = kind == PartitionKind::kTrain;
  ASSIGN_OR_RETURN(std::unique_ptr<Partition> part,
                   Partition::Make(train ? "train" : "val", std::move(dataset)));
  (train ? train_ : val_) = std::move(part);
  return Status::Ok();
}

Status Trainer::LoadPartition(const std::string& store_dir, PartitionKind kind, int index) {
  ASSIGN_OR_RETURN(
      data::Dataset dataset,
      data::MapPartition(store_dir, kind == PartitionKind::kTrain ? "train" : "val", index));
  return SetPartition(kind, std::move(dataset));
}

StatusOr<UnitResult> Trainer::RunUnit(const UnitRequest& request,
                                      const std::function<void()>& state_decoded) {
  const Partition* part = request.train ? train_.get() : val_.get();
  UnitResult result;
  ASSIGN_OR_RETURN(Session s, OpenSession(request, part, &result.state_seconds));
  if (state_decoded) state_decoded();
  RETURN_IF_ERROR(RunPass(s, *part, request.train, request.unit_seed, &result));
  if (request.train) FinishTrainUnit(s, &result);
  return result;
}

StatusOr<std::vector<UnitResult>> Trainer::RunUnits(const std::vector<UnitRequest>& requests) {
  std::vector<UnitResult> results(requests.size());
  if (requests.empty()) return results;
  for (const auto& r : requests) {
    if (!r.train || r.model_config_json != requests.front().model_config_json) {
      return InvalidArgument("RunUnits: every request must be a train unit of the same config");
    }
  }
  const Partition* part = train_.get();
  ASSIGN_OR_RETURN(Session s, OpenSession(requests.front(), part, &results.front().state_seconds));
  for (size_t i = 0; i < requests.size(); ++i) {
    RETURN_IF_ERROR(RunPass(s, *part, /*train=*/true, requests[i].unit_seed, &results[i]));
  }
  FinishTrainUnit(s, &results.back());
  return results;
}

StatusOr<MallocBuffer> AverageStates(const std::string& config_json,
                                     const std::vector<int64_t>& feature_shape, int64_t num_outputs,
                                     const std::vector<std::pair<const uint8_t*, size_t>>& states) {
  if (states.empty()) return InvalidArgument("average: no states");
  ASSIGN_OR_RETURN(model::ModelConfig config, model::ParseModelConfig(config_json));
  const model::InputSpec input{feature_shape, num_outputs};
  std::vector<Copy> copies(states.size());
  for (size_t k = 0; k < states.size(); ++k) {
    Copy& c = copies[k];
    ASSIGN_OR_RETURN(c.net, model::BuildNet(config, input));
    c.optimizer = MakeOptimizer(config, c.net.module->parameters());
    RETURN_IF_ERROR(
        DecodeState(states[k].first, states[k].second, c.net, c.optimizer.get(), config.optimizer));
    c.params = c.net.module->parameters();
  }
  for (size_t i = 0; i < copies[0].params.size(); ++i) {
    AverageParameter(copies, config.optimizer, i);
  }
  return EncodeState(copies[0].net, *copies[0].optimizer, config.optimizer);
}

}  // namespace cerebro::train

#include "cerebro/train/optimizer_state.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "cerebro/train/fused_adam.h"

namespace cerebro::train {
namespace {

// ---- the optimizers ------------------------------------------------------------------
//
// Each optimizer is a struct: its torch types, the options a config gives it, and
// Slots(), which names its per-parameter state's slots in the order the state format
// stores them ("p<i>_<slot>", see SaveOptimizerState). Slots() is handed a visitor with
//   Tensor(name, torch::Tensor&)   a tensor shaped like the parameter
//   Count(name, int64_t&)          an integer, stored as an int64 scalar tensor
// and the visitor saves, loads or collects them. Renaming a slot or changing the order
// changes the on-disk format.

struct Sgd {
  using Optimizer = torch::optim::SGD;
  using State = torch::optim::SGDParamState;
  static constexpr model::OptimizerKind kKind = model::OptimizerKind::kSgd;
  static torch::optim::SGDOptions Options(const model::ModelConfig& c) {
    return torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay);
  }
  template <typename Visitor>
  static void Slots(State& state, Visitor& v) {
    v.Tensor("momentum_buffer", state.momentum_buffer());
  }
};

// Adam and AdamW: the same options and per-parameter state, in different torch types
// (AdamW applies its weight decay to the weights rather than the gradient). Built as
// fused_adam.h's one-pass steps, with LibTorch's state types.
template <typename OptimizerT, typename StateT, typename OptionsT, model::OptimizerKind K>
struct AdamLike {
  using Optimizer = OptimizerT;
  using State = StateT;
  static constexpr model::OptimizerKind kKind = K;
  static OptionsT Options(const model::ModelConfig& c) {
    return OptionsT(c.lr).weight_decay(c.weight_decay);
  }
  template <typename Visitor>
  static void Slots(State& state, Visitor& v) {
    v.Count("step", state.step());
    v.Tensor("exp_avg", state.exp_avg());
    v.Tensor("exp_avg_sq", state.exp_avg_sq());
  }
};

using Adam = AdamLike<FusedAdam, torch::optim::AdamParamState, torch::optim::AdamOptions,
                      model::OptimizerKind::kAdam>;
using AdamW = AdamLike<FusedAdamW, torch::optim::AdamWParamState, torch::optim::AdamWOptions,
                       model::OptimizerKind::kAdamW>;

// ---- the visitors ----------------------------------------------------------------------

std::string SlotKey(size_t i, const char* slot) { return "p" + std::to_string(i) + "_" + slot; }

struct SlotWriter {
  torch::serialize::OutputArchive& archive;
  size_t index;
  void Tensor(const char* name, torch::Tensor& t) { archive.write(SlotKey(index, name), t); }
  void Count(const char* name, int64_t& n) {
    archive.write(SlotKey(index, name), torch::tensor(n));
  }
};

struct SlotReader {
  torch::serialize::InputArchive& archive;
  size_t index;
  const torch::Tensor& param;
  void Tensor(const char* name, torch::Tensor& t) {
    archive.read(SlotKey(index, name), t);
    TORCH_CHECK(t.sizes() == param.sizes(), "optimizer slot ", SlotKey(index, name), " has shape ",
                t.sizes(), ", the parameter has ", param.sizes());
  }
  void Count(const char* name, int64_t& n) {
    torch::Tensor t;
    archive.read(SlotKey(index, name), t);
    n = t.item<int64_t>();
  }
};

struct SlotCollector {
  std::vector<torch::Tensor>& tensors;
  void Tensor(const char*, torch::Tensor& t) { tensors.push_back(t); }
  void Count(const char*, int64_t&) {}
};

// ---- the table ---------------------------------------------------------------------------

using ParamState = torch::optim::OptimizerParamState;

// One optimizer kind, type-erased from its struct above.
struct OptimizerOps {
  model::OptimizerKind kind;
  std::unique_ptr<torch::optim::Optimizer> (*make)(const model::ModelConfig&,
                                                   std::vector<torch::Tensor>);
  void (*save)(ParamState&, SlotWriter&);
  std::unique_ptr<ParamState> (*load)(SlotReader&);
  void (*collect)(ParamState&, SlotCollector&);
};

template <typename K>
OptimizerOps OpsOf() {
  using State = typename K::State;
  return {K::kKind,
          [](const model::ModelConfig& config,
             std::vector<torch::Tensor> params) -> std::unique_ptr<torch::optim::Optimizer> {
            return std::make_unique<typename K::Optimizer>(std::move(params), K::Options(config));
          },
          [](ParamState& state, SlotWriter& w) { K::Slots(static_cast<State&>(state), w); },
          [](SlotReader& r) -> std::unique_ptr<ParamState> {
            auto state = std::make_unique<State>();
            K::Slots(*state, r);
            return state;
          },
          [](ParamState& state, SlotCollector& c) { K::Slots(static_cast<State&>(state), c); }};
}

// Adding an optimizer: a struct above, a row here (and its name in model::OptimizerKind).
const OptimizerOps& OpsFor(model::OptimizerKind kind) {
  static const OptimizerOps kTable[] = {OpsOf<Sgd>(), OpsOf<Adam>(), OpsOf<AdamW>()};
  for (const OptimizerOps& ops : kTable) {
    if (ops.kind == kind) return ops;
  }
  // model::OptimizerKind has no value without a row: a broken invariant.
  throw std::logic_error("no optimizer of kind " + std::to_string(static_cast<int>(kind)));
}

const std::vector<torch::Tensor>& Params(torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().at(0).params();
}

}  // namespace

std::string ParamStateKey(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const model::ModelConfig& config,
                                                       std::vector<torch::Tensor> params) {
  return OpsFor(config.optimizer).make(config, std::move(params));
}

// Layout of the optimizer archive:
//   "p<i>_<slot>"  the slots of parameter i (by its index in the optimizer's parameter
//                  list, i.e. module->parameters() order), for each i with state
//   "n"            int64: number of parameters
//   "has_state"    int64 [n], 1 where the optimizer has state for the parameter
// Why not Optimizer::save: it keys the state by TensorImpl addresses, so equal states
// would serialize to different bytes from run to run, and a unit's output must be
// bitwise reproducible.
void SaveOptimizerState(torch::optim::Optimizer& optimizer, model::OptimizerKind kind,
                        torch::serialize::OutputArchive& archive) {
  const OptimizerOps& ops = OpsFor(kind);
  const std::vector<torch::Tensor>& params = Params(optimizer);
  auto& state = optimizer.state();
  std::vector<int64_t> has_state(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(ParamStateKey(params[i]));
    if (it == state.end()) continue;
    has_state[i] = 1;
    SlotWriter writer{archive, i};
    ops.save(*it->second, writer);
  }
  archive.write("n", torch::tensor(static_cast<int64_t>(params.size())));
  archive.write("has_state", torch::tensor(has_state));
}

void LoadOptimizerState(torch::serialize::InputArchive& archive, model::OptimizerKind kind,
                        torch::optim::Optimizer& optimizer) {
  const OptimizerOps& ops = OpsFor(kind);
  const std::vector<torch::Tensor>& params = Params(optimizer);
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
    SlotReader reader{archive, i, params[i]};
    state[ParamStateKey(params[i])] = ops.load(reader);
  }
}

std::vector<torch::Tensor> StateTensors(torch::optim::Optimizer& optimizer,
                                        model::OptimizerKind kind, size_t index) {
  std::vector<torch::Tensor> tensors;
  auto& state = optimizer.state();
  auto it = state.find(ParamStateKey(Params(optimizer).at(index)));
  if (it == state.end()) return tensors;
  SlotCollector collector{tensors};
  OpsFor(kind).collect(*it->second, collector);
  return tensors;
}

}  // namespace cerebro::train

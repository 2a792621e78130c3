#include "cerebro/train/fused_adam.h"

#include <cmath>
#include <memory>
#include <string>

#include "cerebro/train/adam_kernel.h"
#include "cerebro/train/optimizer_state.h"

namespace cerebro::train {
namespace {

bool KernelTakes(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
         t.layout() == torch::kStrided && t.is_contiguous();
}

using StateMap =
    ska::flat_hash_map<std::string, std::unique_ptr<torch::optim::OptimizerParamState>>;

// The step both optimizers share: LibTorch's Adam / AdamW step (torch/csrc/api/src/optim/
// adam.cpp, adamw.cpp), the state initialised as there, the update by AdamUpdate.
// Returns false, having changed nothing, when some parameter or state is one the kernel
// does not take, so that the caller runs LibTorch's own step.
template <typename Options, typename State>
bool FusedStep(std::vector<torch::optim::OptimizerParamGroup>& groups, StateMap& states,
               bool decoupled) {
  // Every parameter that steps, with its options and its state (null: none yet), looked
  // up once and checked before anything changes.
  struct Item {
    torch::Tensor param;
    const Options* options;
    std::string key;
    State* state;
  };
  std::vector<Item> items;
  for (auto& group : groups) {
    const auto& options = static_cast<const Options&>(group.options());
    if (options.amsgrad()) return false;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!KernelTakes(p) || !KernelTakes(p.grad())) return false;
      std::string key = ParamStateKey(p);
      auto it = states.find(key);
      State* state = it == states.end() ? nullptr : static_cast<State*>(it->second.get());
      if (state != nullptr &&
          (!KernelTakes(state->exp_avg()) || !KernelTakes(state->exp_avg_sq()) ||
           state->exp_avg().numel() != p.numel() || state->exp_avg_sq().numel() != p.numel())) {
        return false;
      }
      items.push_back({p, &options, std::move(key), state});
    }
  }
  torch::NoGradGuard no_grad;
  for (Item& item : items) {
    const torch::Tensor& p = item.param;
    const Options& options = *item.options;
    if (item.state == nullptr) {
      auto fresh = std::make_unique<State>();
      fresh->step(0);
      fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      item.state = fresh.get();
      states.emplace(std::move(item.key), std::move(fresh));
    }
    State& state = *item.state;
    state.step(state.step() + 1);
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const double bias_correction1 = 1 - std::pow(beta1, state.step());
    const double bias_correction2 = 1 - std::pow(beta2, state.step());
    AdamScalars s;
    s.beta1 = static_cast<float>(beta1);
    s.one_minus_beta1 = static_cast<float>(1 - beta1);
    s.beta2 = static_cast<float>(beta2);
    s.one_minus_beta2 = static_cast<float>(1 - beta2);
    s.sqrt_bias_correction2 = static_cast<float>(std::sqrt(bias_correction2));
    s.eps = static_cast<float>(options.eps());
    s.neg_step_size = static_cast<float>(-(options.lr() / bias_correction1));
    s.decoupled = decoupled;
    if (decoupled) {
      s.param_scale = static_cast<float>(1 - options.lr() * options.weight_decay());
    } else {
      s.weight_decay = static_cast<float>(options.weight_decay());
    }
    torch::Tensor& exp_avg = state.exp_avg();
    torch::Tensor& exp_avg_sq = state.exp_avg_sq();
    AdamUpdate(p.data_ptr<float>(), p.grad().data_ptr<float>(), exp_avg.data_ptr<float>(),
               exp_avg_sq.data_ptr<float>(), p.numel(), s);
  }
  return true;
}

// The closure runs once, as in LibTorch's step.
torch::Tensor RunClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::Tensor loss = RunClosure(closure);
  if (!FusedStep<torch::optim::AdamOptions, torch::optim::AdamParamState>(param_groups_, state_,
                                                                         false)) {
    torch::optim::Adam::step(nullptr);
  }
  return loss;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss = RunClosure(closure);
  if (!FusedStep<torch::optim::AdamWOptions, torch::optim::AdamWParamState>(param_groups_, state_,
                                                                           true)) {
    torch::optim::AdamW::step(nullptr);
  }
  return loss;
}

}  // namespace cerebro::train

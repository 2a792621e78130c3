// FusedAdam / FusedAdamW against LibTorch's Adam / AdamW: bitwise the same parameters,
// moments and step counts after several steps, for every option the configs set (weight
// decay on and off), on parameter sizes that do and do not fill whole vector registers;
// and adam_kernel's copies for each instruction set against each other.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "cerebro/train/adam_kernel.h"
#include "cerebro/train/fused_adam.h"

namespace cerebro::train {
namespace {

// Parameters of a few odd shapes, and the same values in a second copy.
std::vector<torch::Tensor> MakeParams(int64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps = {torch::randn({37, 19}), torch::randn({1000}),
                                   torch::randn({3}), torch::randn({64, 16})};
  for (auto& p : ps) p.set_requires_grad(true);
  return ps;
}

std::vector<torch::Tensor> Copy(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().set_requires_grad(true));
  return out;
}

// Gives both parameter lists the same gradients (some large, some tiny) for step k.
void SetGrads(std::vector<torch::Tensor>& a, std::vector<torch::Tensor>& b, int k) {
  torch::manual_seed(1000 + k);
  for (size_t i = 0; i < a.size(); ++i) {
    torch::Tensor g = torch::randn_like(a[i]) * std::pow(10.0, static_cast<double>(k % 5) - 3);
    a[i].mutable_grad() = g.clone();
    b[i].mutable_grad() = g.clone();
  }
}

// Largest difference in units of the last place between two float tensors.
int64_t MaxUlps(const torch::Tensor& x, const torch::Tensor& y) {
  const float* a = x.data_ptr<float>();
  const float* b = y.data_ptr<float>();
  int64_t worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int32_t ia, ib;
    std::memcpy(&ia, &a[i], 4);
    std::memcpy(&ib, &b[i], 4);
    worst = std::max<int64_t>(worst, std::abs(static_cast<int64_t>(ia) - ib));
  }
  return worst;
}

template <typename Reference, typename Fused, typename Options, typename State>
void ExpectSameSteps(const Options& options, int64_t allowed_ulps) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    // LibTorch's baseline kernels round the multiply and the add apart; ours fuse them
    // everywhere, so that every machine gets the same bits.
    GTEST_SKIP() << "LibTorch's kernels on this CPU do not fuse multiply-adds";
  }
  std::vector<torch::Tensor> pa = MakeParams(7), pb = Copy(pa);
  Reference reference(pa, options);
  Fused fused(pb, options);
  for (int k = 0; k < 12; ++k) {
    SetGrads(pa, pb, k);
    reference.step();
    fused.step();
  }
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_LE(MaxUlps(pa[i], pb[i]), allowed_ulps) << "parameter " << i;
    auto& sa = static_cast<State&>(*reference.state().at(c10::guts::to_string(pa[i].unsafeGetTensorImpl())));
    auto& sb = static_cast<State&>(*fused.state().at(c10::guts::to_string(pb[i].unsafeGetTensorImpl())));
    EXPECT_EQ(sa.step(), sb.step());
    EXPECT_LE(MaxUlps(sa.exp_avg(), sb.exp_avg()), allowed_ulps) << "exp_avg " << i;
    EXPECT_LE(MaxUlps(sa.exp_avg_sq(), sb.exp_avg_sq()), allowed_ulps) << "exp_avg_sq " << i;
  }
}

TEST(FusedAdamTest, StepsLikeLibTorchsAdam) {
  ExpectSameSteps<torch::optim::Adam, FusedAdam, torch::optim::AdamOptions,
                  torch::optim::AdamParamState>(torch::optim::AdamOptions(3e-3), 0);
}

TEST(FusedAdamTest, StepsLikeLibTorchsAdamWithWeightDecay) {
  ExpectSameSteps<torch::optim::Adam, FusedAdam, torch::optim::AdamOptions,
                  torch::optim::AdamParamState>(torch::optim::AdamOptions(1e-3).weight_decay(1e-2),
                                                0);
}

TEST(FusedAdamTest, StepsLikeLibTorchsAdamW) {
  ExpectSameSteps<torch::optim::AdamW, FusedAdamW, torch::optim::AdamWOptions,
                  torch::optim::AdamWParamState>(torch::optim::AdamWOptions(3e-3).weight_decay(0.05),
                                                 0);
}

TEST(FusedAdamTest, ParametersWithoutGradientsAreLeftAlone) {
  std::vector<torch::Tensor> ps = MakeParams(3);
  const torch::Tensor before = ps[1].detach().clone();
  FusedAdam fused(ps, torch::optim::AdamOptions(1e-2));
  ps[0].mutable_grad() = torch::ones_like(ps[0]);
  fused.step();
  EXPECT_TRUE(torch::equal(ps[1], before));
  EXPECT_EQ(fused.state().size(), 1u);
}

TEST(FusedAdamTest, WhatTheKernelDoesNotTakeStepsAsLibTorchDoes) {
  // A non-contiguous parameter (a transposed view) and amsgrad: LibTorch's own step.
  for (bool amsgrad : {false, true}) {
    torch::manual_seed(5);
    torch::Tensor base = torch::randn({8, 5});
    torch::Tensor pa = base.clone().t().set_requires_grad(true);
    torch::Tensor pb = base.clone().t().set_requires_grad(true);
    if (amsgrad) {
      pa = pa.contiguous().detach().set_requires_grad(true);
      pb = pb.contiguous().detach().set_requires_grad(true);
    }
    auto options = torch::optim::AdamOptions(1e-2).amsgrad(amsgrad);
    torch::optim::Adam reference({pa}, options);
    FusedAdam fused({pb}, options);
    for (int k = 0; k < 3; ++k) {
      torch::Tensor g = torch::randn_like(pa);
      pa.mutable_grad() = g.clone();
      pb.mutable_grad() = g.clone();
      reference.step();
      fused.step();
    }
    EXPECT_TRUE(torch::equal(pa, pb)) << "amsgrad " << amsgrad;
  }
}

TEST(AdamKernelTest, EveryInstructionSetComputesTheSameBits) {
  const int64_t n = 1000 + 13;  // a tail after the vector registers
  torch::manual_seed(11);
  const torch::Tensor p0 = torch::randn({n}), g = torch::randn({n}) * 1e-3,
                      m0 = torch::randn({n}) * 1e-3, v0 = torch::rand({n}) * 1e-6;
  for (bool decoupled : {false, true}) {
    AdamScalars s;
    s.beta1 = 0.9f, s.one_minus_beta1 = 0.1f, s.beta2 = 0.999f, s.one_minus_beta2 = 0.001f;
    s.sqrt_bias_correction2 = 0.0447f, s.eps = 1e-8f, s.neg_step_size = -0.01f;
    s.decoupled = decoupled;
    (decoupled ? s.param_scale : s.weight_decay) = decoupled ? 0.9999f : 1e-2f;
    std::vector<torch::Tensor> results;
    for (AdamIsa isa : {AdamIsa::kBest, AdamIsa::kAvx2, AdamIsa::kBaseline}) {
      torch::Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
      if (!AdamUpdateOn(isa, p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                        v.data_ptr<float>(), n, s)) {
        continue;  // this CPU lacks it
      }
      results.push_back(torch::cat({p, m, v}));
    }
    ASSERT_GE(results.size(), 2u);  // the best and the baseline at least
    for (const torch::Tensor& r : results) EXPECT_TRUE(torch::equal(r, results.front()));
  }
}

}  // namespace
}  // namespace cerebro::train

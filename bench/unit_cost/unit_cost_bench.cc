// What a training unit costs besides training, on one model's state: building the net
// (with its random initialisation), encoding and decoding the state (train/state_codec.h),
// hashing it (common/rng.h Hash64), and one Adam step, LibTorch's and the one-pass one
// (train/fused_adam.h). One intra-op thread, as a worker. Prints the median of
// --repeats timings of each, in milliseconds. Never run by ctest.
//   build/cerebro_unit_cost_bench [--config JSON] [--features N] [--classes N] [--repeats N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cerebro/common/rng.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/optimizer_state.h"
#include "cerebro/train/process.h"
#include "cerebro/train/state_codec.h"

namespace {

using cerebro::train::MallocBuffer;

double MedianMs(int repeats, const std::function<void()>& f) {
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void GiveGradients(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params) p.mutable_grad() = torch::randn_like(p) * 1e-3;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_json = R"({"model":"mlp","hidden":[1000,500],"optimizer":"adam","weight_decay":1e-4})";
  int64_t features = 784, classes = 10;
  int repeats = 21;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--config") config_json = argv[i + 1];
    else if (k == "--features") features = std::atoll(argv[i + 1]);
    else if (k == "--classes") classes = std::atoll(argv[i + 1]);
    else if (k == "--repeats") repeats = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unit_cost_bench: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (!cerebro::train::ConfigureProcess(1).ok()) return 1;
  auto config = cerebro::model::ParseModelConfig(config_json);
  if (!config.ok()) {
    std::fprintf(stderr, "unit_cost_bench: %s\n", config.status().message().c_str());
    return 2;
  }
  const cerebro::model::InputSpec input{{features}, classes};
  auto net = cerebro::model::BuildNet(*config, input);
  if (!net.ok()) {
    std::fprintf(stderr, "unit_cost_bench: %s\n", net.status().message().c_str());
    return 2;
  }
  auto params = net->module->parameters();
  auto optimizer = cerebro::train::MakeOptimizer(*config, params);
  GiveGradients(params);
  optimizer->step();  // the optimizer's state exists, as after a unit
  MallocBuffer state = cerebro::train::EncodeState(*net, *optimizer, config->optimizer);

  const double build = MedianMs(repeats, [&] {
    auto n = cerebro::model::BuildNet(*config, input);
    auto o = cerebro::train::MakeOptimizer(*config, n->module->parameters());
  });
  const double encode = MedianMs(repeats, [&] {
    MallocBuffer s = cerebro::train::EncodeState(*net, *optimizer, config->optimizer);
  });
  auto net2 = cerebro::model::BuildNet(*config, input);
  auto optimizer2 = cerebro::train::MakeOptimizer(*config, net2->module->parameters());
  auto decode_with = [&](bool verified) {
    return MedianMs(repeats, [&] {
      if (!cerebro::train::DecodeState(state.data(), state.size(), *net2, optimizer2.get(),
                                       config->optimizer, verified)
               .ok()) {
        std::abort();
      }
    });
  };
  const double decode = decode_with(false), decode_verified = decode_with(true);
  uint64_t sink = 0;
  const double hash = MedianMs(repeats, [&] { sink ^= cerebro::Hash64(state.data(), state.size()); });
  const double step = MedianMs(repeats, [&] { optimizer->step(); });
  double libtorch_step = -1;
  if (config->optimizer == cerebro::model::OptimizerKind::kAdam) {
    torch::optim::Adam reference(params, torch::optim::AdamOptions(config->lr).weight_decay(config->weight_decay));
    reference.step();
    libtorch_step = MedianMs(repeats, [&] { reference.step(); });
  }
  std::printf("state %.1f MB (%zu bytes), median of %d, ms:\n", state.size() / 1e6, state.size(), repeats);
  std::printf("  build net + optimizer   %8.2f\n", build);
  std::printf("  encode state            %8.2f\n", encode);
  std::printf("  decode state            %8.2f\n", decode);
  std::printf("  decode, verified bytes  %8.2f\n", decode_verified);
  std::printf("  Hash64 one pass         %8.2f\n", hash);
  std::printf("  optimizer step          %8.2f\n", step);
  if (libtorch_step >= 0) std::printf("  LibTorch's Adam step    %8.2f\n", libtorch_step);
  return sink == 42 ? 3 : 0;  // keeps the hashes from being optimised away
}

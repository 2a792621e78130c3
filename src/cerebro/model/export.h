// Exporting a trained net as TorchScript, so Python's torch.jit.load (or LibTorch's) runs
// it without Cerebro. LibTorch C++ cannot script a C++ torch::nn module, so each family
// has an *exporter* that builds an equivalent torch::jit::Module (the built-in mlp and cnn
// generate TorchScript source from their layers); ExportTorchScript wraps it in a module
// that takes raw inputs (see ExportOptions). The exporter table is process-wide, guarded
// by a mutex (registration and lookup are thread-safe); a Net is used by one thread.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/model/registry.h"

namespace cerebro::model {

// A family's exporter. Given the family's validated config, the data's InputSpec and the
// net BuildNet made for them (trained weights loaded, read only), it returns a
// torch::jit::Module whose `forward(self, x: Tensor) -> Tensor` maps a float32 batch
// [N, *input.feature_shape] to [N, input.output_size] exactly as `trained.forward` does
// in eval mode (dropout off, batch norm on its running statistics), holding copies of the
// trained weights. Errors: InvalidArgument when the net holds a layer the exporter cannot
// express; exceptions it throws are caught by ExportTorchScript (Internal).
using Exporter =
    std::function<StatusOr<torch::jit::Module>(const ModelConfig& config, const InputSpec& input,
                                               const Net& trained)>;

// Registers the exporter of family `name` (a family registered with RegisterFamily, or
// about to be). AlreadyExists if it has one (mlp and cnn have theirs); InvalidArgument for
// an empty name or a null exporter. A family without an exporter cannot be exported.
Status RegisterExporter(const std::string& name, Exporter exporter);

// What the exported module does with its input before the family's net sees it.
struct ExportOptions {
  // The data section's feature_scale: forward multiplies the raw input by it (in float64,
  // then rounds to float32 once, as the data readers and the trainer's byte table do), so
  // a user feeds values as the source file holds them (e.g. 0..255 pixels). 1: no scaling.
  double input_scale = 1.0;
};

// The TorchScript module of `trained` (built by BuildNet(config, input), weights loaded):
//   forward(self, x: Tensor) -> Tensor
// takes raw inputs [N, *feature_shape] or flat rows [N, prod(feature_shape)] of any real
// dtype, scales them (options.input_scale), reshapes to [N, *feature_shape] and returns the
// net's outputs [N, output_size] (logits for classification). The module is in eval mode.
// Errors: NotFound when the family has no exporter; the exporter's errors; Internal when
// torch throws (e.g. the exporter's TorchScript does not compile).
StatusOr<torch::jit::Module> ExportTorchScript(const ModelConfig& config, const InputSpec& input,
                                               const Net& trained,
                                               const ExportOptions& options = {});

// For exporters of nets that are a torch::nn::Sequential of standard layers (Linear,
// Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, Flatten, Dropout, ReLU, Tanh, Sigmoid,
// GELU, Identity): the equivalent scripted module, after reshaping its input to
// `input_reshape` when that is not empty (the cnn's [-1, C, H, W]). InvalidArgument naming
// the layer for any other layer type.
StatusOr<torch::jit::Module> ScriptSequential(const torch::nn::SequentialImpl& seq,
                                              const std::vector<int64_t>& input_reshape);

}  // namespace cerebro::model

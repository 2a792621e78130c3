// The built-in model families: "mlp" and "cnn". Each has a Parse function shared by its
// validator (data-independent checks) and its factory (which adds the checks that need
// the input shape), so the two cannot disagree.
#include <string>
#include <vector>

#include "cerebro/model/registry.h"

namespace cerebro::model {
namespace {

Status CheckActivation(const std::string& activation) {
  if (activation == "relu" || activation == "tanh" || activation == "sigmoid" ||
      activation == "gelu") {
    return Status::Ok();
  }
  return Params::FieldError("activation",
                            "expected one of relu, tanh, sigmoid, gelu; got '" + activation + "'");
}

void AddActivation(torch::nn::Sequential& seq, const std::string& activation) {
  if (activation == "relu") {
    seq->push_back(torch::nn::ReLU());
  } else if (activation == "tanh") {
    seq->push_back(torch::nn::Tanh());
  } else if (activation == "sigmoid") {
    seq->push_back(torch::nn::Sigmoid());
  } else {
    seq->push_back(torch::nn::GELU());
  }
}

StatusOr<std::vector<int64_t>> PositiveIntList(const Params& p, const std::string& key,
                                               const std::vector<int64_t>& default_value) {
  auto list = p.GetIntList(key, default_value);
  bool ok = list.ok();
  if (ok) {
    for (int64_t v : *list) ok = ok && v >= 1;
  }
  if (!ok) return Params::FieldError(key, "expected a list of positive integers");
  return list;
}

StatusOr<double> ParseDropout(const Params& p) {
  auto dropout = p.GetDouble("dropout", 0.0);
  if (!dropout.ok() || !(*dropout >= 0.0 && *dropout < 1.0)) {
    return Params::FieldError("dropout", "expected a number in [0, 1)");
  }
  return dropout;
}

// Hidden layers: Linear -> activation -> Dropout. The Dropout module is there even when
// p == 0 so that parameter names (e.g. "4.weight") do not depend on the dropout rate:
// a state stays loadable when a search changes dropout between units.
void AddDenseStack(torch::nn::Sequential& seq, int64_t in, const std::vector<int64_t>& hidden,
                   const std::string& activation, double dropout, int64_t out) {
  for (int64_t h : hidden) {
    seq->push_back(torch::nn::Linear(in, h));
    AddActivation(seq, activation);
    seq->push_back(torch::nn::Dropout(dropout));
    in = h;
  }
  seq->push_back(torch::nn::Linear(in, out));
}

// ---- mlp ------------------------------------------------------------------------------

struct MlpParams {
  std::vector<int64_t> hidden;  // empty: a linear model
  std::string activation;
  double dropout = 0.0;
};

StatusOr<MlpParams> ParseMlp(const Params& p) {
  MlpParams m;
  ASSIGN_OR_RETURN(m.hidden, PositiveIntList(p, "hidden", {}));
  ASSIGN_OR_RETURN(m.activation, p.GetString("activation", "relu"));
  RETURN_IF_ERROR(CheckActivation(m.activation));
  ASSIGN_OR_RETURN(m.dropout, ParseDropout(p));
  return m;
}

StatusOr<Net> BuildMlp(const Params& p, const InputSpec& input) {
  ASSIGN_OR_RETURN(MlpParams m, ParseMlp(p));
  int64_t in = 1;
  for (int64_t d : input.feature_shape) in *= d;
  torch::nn::Sequential seq;
  seq->push_back(torch::nn::Flatten());  // [N, ...] -> [N, prod(feature_shape)]
  AddDenseStack(seq, in, m.hidden, m.activation, m.dropout, input.output_size);
  return MakeNet(seq);
}

// ---- cnn ------------------------------------------------------------------------------

struct CnnParams {
  std::vector<int64_t> conv_channels;
  int64_t kernel_size = 3;
  std::string pool;
  std::vector<int64_t> dense;
  std::string activation;
  double dropout = 0.0;
};

StatusOr<CnnParams> ParseCnn(const Params& p) {
  CnnParams c;
  ASSIGN_OR_RETURN(c.conv_channels, PositiveIntList(p, "conv_channels", {32, 64}));
  if (c.conv_channels.empty()) {
    return Params::FieldError("conv_channels", "expected a non-empty list of positive integers");
  }
  auto k = p.GetInt("kernel_size", 3);
  if (!k.ok() || *k < 1 || *k % 2 == 0) {
    return Params::FieldError("kernel_size", "expected an odd positive integer");
  }
  c.kernel_size = *k;
  ASSIGN_OR_RETURN(c.pool, p.GetString("pool", "max"));
  if (c.pool != "max" && c.pool != "avg" && c.pool != "none") {
    return Params::FieldError("pool", "expected one of max, avg, none; got '" + c.pool + "'");
  }
  ASSIGN_OR_RETURN(c.dense, PositiveIntList(p, "dense", {128}));
  ASSIGN_OR_RETURN(c.activation, p.GetString("activation", "relu"));
  RETURN_IF_ERROR(CheckActivation(c.activation));
  ASSIGN_OR_RETURN(c.dropout, ParseDropout(p));
  return c;
}

// Conv blocks: Conv2d('same' padding) -> activation -> 2x2 pool (stride 2, floor), then
// flatten and the dense head. Dropout sits in the dense head only.
StatusOr<Net> BuildCnn(const Params& p, const InputSpec& input) {
  ASSIGN_OR_RETURN(CnnParams c, ParseCnn(p));
  const auto& shape = input.feature_shape;
  if (shape.size() != 2 && shape.size() != 3) {
    return InvalidArgument(
        "model 'cnn': needs image features of shape [H, W] or [C, H, W]; the data has " +
        std::to_string(shape.size()) + " dimension(s)");
  }
  const int64_t channels = shape.size() == 3 ? shape[0] : 1;
  const int64_t height = shape[shape.size() - 2];
  const int64_t width = shape[shape.size() - 1];

  torch::nn::Sequential seq;
  int64_t in = channels, h = height, w = width;
  for (size_t i = 0; i < c.conv_channels.size(); ++i) {
    int64_t out = c.conv_channels[i];
    seq->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, c.kernel_size).padding(c.kernel_size / 2)));
    AddActivation(seq, c.activation);
    if (c.pool != "none") {
      h /= 2;
      w /= 2;
      if (h < 1 || w < 1) {
        return Params::FieldError("conv_channels",
                                  "the " + std::to_string(height) + "x" + std::to_string(width) +
                                      " image shrinks below 1 px after " + std::to_string(i + 1) +
                                      " 2x2 pooling layers");
      }
      if (c.pool == "max") {
        seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
      } else {
        seq->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2)));
      }
    }
    in = out;
  }
  seq->push_back(torch::nn::Flatten());
  AddDenseStack(seq, in * h * w, c.dense, c.activation, c.dropout, input.output_size);
  auto impl = seq.ptr();
  // Reshape here rather than in the data: partitions store flat rows, and [H, W] images
  // need an explicit channel dimension.
  return Net{impl, [impl, channels, height, width](const torch::Tensor& x) {
               return impl->forward(x.reshape({-1, channels, height, width}));
             }};
}

Status Register(const std::string& name, Factory factory, std::vector<std::string> keys,
                Validator validator) {
  return internal::RegisterFamilyUnchecked(name, std::move(factory), std::move(keys),
                                           std::move(validator));
}

}  // namespace

namespace internal {

void RegisterBuiltinFamilies() {
  Status st = Register("mlp", BuildMlp, {"hidden", "activation", "dropout"},
                       [](const Params& p) { return ParseMlp(p).status(); });
  if (st.ok()) {
    st = Register("cnn", BuildCnn,
                  {"conv_channels", "kernel_size", "pool", "dense", "activation", "dropout"},
                  [](const Params& p) { return ParseCnn(p).status(); });
  }
  // Cannot fail unless the registry itself is broken (the names are reserved).
  if (!st.ok()) cerebro::internal::CheckFailed(__FILE__, __LINE__, st.ToString().c_str());
}

}  // namespace internal
}  // namespace cerebro::model

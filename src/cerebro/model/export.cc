// TorchScript export: the exporter table, the built-in mlp/cnn exporters (generated
// TorchScript source over the Sequential's layers, weights copied in as parameters) and
// the wrapper that folds the feature scale in.
#include "cerebro/model/export.h"

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cerebro::model {
namespace {

// ---- the exporter table ------------------------------------------------------------------

struct ExporterTable {
  std::mutex mu;
  std::map<std::string, Exporter> exporters;
};

Status BuiltinExporters(ExporterTable& table);

ExporterTable& Table() {
  static ExporterTable* table = [] {
    auto t = std::make_unique<ExporterTable>();
    // Cannot fail: the table is empty.
    Status st = BuiltinExporters(*t);
    if (!st.ok()) cerebro::internal::CheckFailed(__FILE__, __LINE__, st.ToString().c_str());
    return t.release();  // process lifetime, like the family registry
  }();
  return *table;
}

Status AddExporter(ExporterTable& table, const std::string& name, Exporter exporter) {
  if (name.empty()) return InvalidArgument("RegisterExporter: empty family name");
  if (!exporter) return InvalidArgument("RegisterExporter: null exporter for '" + name + "'");
  if (!table.exporters.emplace(name, std::move(exporter)).second) {
    return AlreadyExists("family '" + name + "' already has an exporter");
  }
  return Status::Ok();
}

// ---- TorchScript source --------------------------------------------------------------------

std::string IntList(c10::ArrayRef<int64_t> values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

// A float literal that round-trips (and reads as a float, never an int: "1.0", not "1").
std::string FloatLiteral(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

const char* Bool(bool b) { return b ? "True" : "False"; }

// Builds the scripted module layer by layer: each layer's tensors become parameters
// (or buffers) named l<index>_<name>, each layer one line of forward.
class ScriptBuilder {
 public:
  explicit ScriptBuilder(const char* class_name) : module_(class_name) {}

  void Line(const std::string& statement) { body_ += "    x = " + statement + "\n"; }

  // Registers `t` (may be undefined: then "None") and returns how forward names it.
  std::string Tensor(size_t layer, const char* name, const torch::Tensor& t, bool buffer = false) {
    if (!t.defined()) return "None";
    const std::string attr = "l" + std::to_string(layer) + "_" + name;
    torch::Tensor copy = t.detach().clone();
    if (buffer) {
      module_.register_buffer(attr, copy);
    } else {
      module_.register_parameter(attr, copy, /*is_buffer=*/false);
    }
    return "self." + attr;
  }

  torch::jit::Module Finish() {
    module_.define("def forward(self, x: Tensor) -> Tensor:\n" + body_ + "    return x\n");
    module_.eval();
    return module_;
  }

 private:
  torch::jit::Module module_;
  std::string body_;
};

template <typename Impl>
const Impl* As(const std::shared_ptr<torch::nn::Module>& m) {
  return dynamic_cast<const Impl*>(m.get());
}

// One layer of a Sequential as a line of forward; InvalidArgument for a layer it does not know.
Status AddLayer(ScriptBuilder& b, size_t i, const std::shared_ptr<torch::nn::Module>& layer) {
  namespace nn = torch::nn;
  if (As<nn::DropoutImpl>(layer) || As<nn::IdentityImpl>(layer)) return Status::Ok();  // eval
  if (As<nn::ReLUImpl>(layer)) {
    b.Line("torch.relu(x)");
  } else if (As<nn::TanhImpl>(layer)) {
    b.Line("torch.tanh(x)");
  } else if (As<nn::SigmoidImpl>(layer)) {
    b.Line("torch.sigmoid(x)");
  } else if (const auto* g = As<nn::GELUImpl>(layer)) {
    b.Line("torch.gelu(x, approximate=\"" + g->options.approximate() + "\")");
  } else if (const auto* f = As<nn::FlattenImpl>(layer)) {
    b.Line("torch.flatten(x, " + std::to_string(f->options.start_dim()) + ", " +
           std::to_string(f->options.end_dim()) + ")");
  } else if (const auto* l = As<nn::LinearImpl>(layer)) {
    b.Line("torch.linear(x, " + b.Tensor(i, "weight", l->weight) + ", " +
           b.Tensor(i, "bias", l->bias) + ")");
  } else if (const auto* c = As<nn::Conv2dImpl>(layer)) {
    const auto& o = c->options;
    const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
    if (padding == nullptr || !c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
      return InvalidArgument("export: layer " + std::to_string(i) +
                           ": Conv2d with 'valid'/'same' or non-zero padding mode");
    }
    b.Line("torch.conv2d(x, " + b.Tensor(i, "weight", c->weight) + ", " +
           b.Tensor(i, "bias", c->bias) + ", " + IntList(*o.stride()) + ", " +
           IntList(**padding) + ", " + IntList(*o.dilation()) + ", " +
           std::to_string(o.groups()) + ")");
  } else if (const auto* p = As<nn::MaxPool2dImpl>(layer)) {
    const auto& o = p->options;
    b.Line("torch.max_pool2d(x, " + IntList(*o.kernel_size()) + ", " + IntList(*o.stride()) +
           ", " + IntList(*o.padding()) + ", " + IntList(*o.dilation()) + ", " +
           Bool(o.ceil_mode()) + ")");
  } else if (const auto* p = As<nn::AvgPool2dImpl>(layer)) {
    const auto& o = p->options;
    b.Line("torch.avg_pool2d(x, " + IntList(*o.kernel_size()) + ", " + IntList(*o.stride()) +
           ", " + IntList(*o.padding()) + ", " + Bool(o.ceil_mode()) + ", " +
           Bool(o.count_include_pad()) + ", " +
           (o.divisor_override() ? std::to_string(*o.divisor_override()) : "None") + ")");
  } else if (As<nn::BatchNorm1dImpl>(layer) || As<nn::BatchNorm2dImpl>(layer)) {
    const auto* bn1 = As<nn::BatchNorm1dImpl>(layer);
    const auto* bn2 = As<nn::BatchNorm2dImpl>(layer);
    const auto& o = bn1 ? bn1->options : bn2->options;
    const auto& weight = bn1 ? bn1->weight : bn2->weight;
    const auto& bias = bn1 ? bn1->bias : bn2->bias;
    // Eval mode uses the running statistics; without them, the batch's own (as in C++).
    const bool stats = o.track_running_stats();
    const std::string mean =
        stats ? b.Tensor(i, "running_mean", bn1 ? bn1->running_mean : bn2->running_mean, true)
              : "None";
    const std::string var =
        stats ? b.Tensor(i, "running_var", bn1 ? bn1->running_var : bn2->running_var, true)
              : "None";
    b.Line("torch.batch_norm(x, " + b.Tensor(i, "weight", weight) + ", " +
           b.Tensor(i, "bias", bias) + ", " + mean + ", " + var + ", " + Bool(!stats) + ", " +
           FloatLiteral(o.momentum().value_or(0.1)) + ", " + FloatLiteral(o.eps()) + ", False)");
  } else {
    return InvalidArgument("export: layer " + std::to_string(i) + " (" + layer->name() +
                         ") has no TorchScript form");
  }
  return Status::Ok();
}

// ---- the built-in families -----------------------------------------------------------------

StatusOr<const torch::nn::SequentialImpl*> SequentialOf(const Net& net) {
  const auto* seq = dynamic_cast<const torch::nn::SequentialImpl*>(net.module.get());
  if (seq == nullptr) return Internal("export: the net is not a torch::nn::Sequential");
  return seq;
}

StatusOr<torch::jit::Module> ExportMlp(const ModelConfig&, const InputSpec&, const Net& net) {
  ASSIGN_OR_RETURN(const torch::nn::SequentialImpl* seq, SequentialOf(net));
  return ScriptSequential(*seq, {});  // it starts with Flatten
}

// The cnn's forward reshapes to [-1, C, H, W] before its layers (families.cc).
StatusOr<torch::jit::Module> ExportCnn(const ModelConfig&, const InputSpec& input,
                                       const Net& net) {
  ASSIGN_OR_RETURN(const torch::nn::SequentialImpl* seq, SequentialOf(net));
  const auto& shape = input.feature_shape;
  if (shape.size() != 2 && shape.size() != 3) {
    return InvalidArgument("export: the cnn needs image features of shape [H, W] or [C, H, W]");
  }
  const int64_t channels = shape.size() == 3 ? shape[0] : 1;
  return ScriptSequential(*seq, {-1, channels, shape[shape.size() - 2], shape.back()});
}

Status BuiltinExporters(ExporterTable& table) {
  RETURN_IF_ERROR(AddExporter(table, "mlp", ExportMlp));
  return AddExporter(table, "cnn", ExportCnn);
}

StatusOr<torch::jit::Module> Wrap(torch::jit::Module net, const InputSpec& input,
                                  const ExportOptions& options) {
  torch::jit::Module outer("CerebroModel");
  outer.register_module("net", net);
  std::string src = "def forward(self, x: Tensor) -> Tensor:\n";
  // In float64 and rounded once, as the readers compute static_cast<float>(v * scale).
  if (options.input_scale != 1.0) {
    src += "    x = x.double() * " + FloatLiteral(options.input_scale) + "\n";
  }
  std::vector<int64_t> shape = {-1};
  shape.insert(shape.end(), input.feature_shape.begin(), input.feature_shape.end());
  src += "    x = x.float().reshape(" + IntList(shape) + ")\n";
  src += "    return self.net.forward(x)\n";
  outer.define(src);
  outer.eval();
  return outer;
}

}  // namespace

Status RegisterExporter(const std::string& name, Exporter exporter) {
  ExporterTable& table = Table();
  std::lock_guard<std::mutex> lock(table.mu);
  return AddExporter(table, name, std::move(exporter));
}

StatusOr<torch::jit::Module> ScriptSequential(const torch::nn::SequentialImpl& seq,
                                              const std::vector<int64_t>& input_reshape) {
  ScriptBuilder b("CerebroNet");
  if (!input_reshape.empty()) b.Line("x.reshape(" + IntList(input_reshape) + ")");
  const auto layers = seq.children();
  for (size_t i = 0; i < layers.size(); ++i) RETURN_IF_ERROR(AddLayer(b, i, layers[i]));
  return b.Finish();
}

StatusOr<torch::jit::Module> ExportTorchScript(const ModelConfig& config, const InputSpec& input,
                                               const Net& trained, const ExportOptions& options) {
  Exporter exporter;
  {
    ExporterTable& table = Table();
    std::lock_guard<std::mutex> lock(table.mu);
    auto it = table.exporters.find(config.family);
    if (it == table.exporters.end()) {
      return NotFound("model '" + config.family + "' cannot be exported (its family has no "
                      "TorchScript exporter)");
    }
    exporter = it->second;
  }
  try {
    torch::NoGradGuard no_grad;
    ASSIGN_OR_RETURN(torch::jit::Module net, exporter(config, input, trained));
    return Wrap(std::move(net), input, options);
  } catch (const c10::Error& e) {
    return Internal("export: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal(std::string("export: ") + e.what());
  }
}

}  // namespace cerebro::model

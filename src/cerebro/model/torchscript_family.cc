#include "cerebro/model/torchscript_family.h"

#include <sys/stat.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "cerebro/model/export.h"

namespace cerebro::model {
namespace {

using Json = nlohmann::json;

constexpr char kModelFile[] = "model_file";
constexpr int64_t kDryBatch = 2;

std::string ShapeText(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// Torch's messages run over several lines; a model's failure reason is one line. For an
// error inside a script, the interpreter's message is a TorchScript traceback whose last
// line is the error itself ("RuntimeError: mat1 and mat2 shapes cannot be multiplied
// ..."); for the others the first line says it.
std::string OneLine(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t lead = 0;
    while (lead < line.size() && std::isspace(static_cast<unsigned char>(line[lead]))) ++lead;
    if (lead < line.size()) lines.push_back(line.substr(lead));
    start = end + 1;
  }
  if (lines.empty()) return "no message";
  const bool traceback = text.find("TorchScript interpreter") != std::string::npos ||
                         text.find("Traceback of TorchScript") != std::string::npos;
  return traceback ? lines.back() : lines.front();
}

// Memory running out is not the file's fault: it goes on to BuildNet (kInternal), like
// any factory's. (The interpreter rethrows an op's c10::Error as a runtime_error.)
void RethrowIfOutOfMemory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
      std::string(e.what()).find("DefaultCPUAllocator: ") != std::string::npos) {
    throw;
  }
}

std::string MessageOf(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  return OneLine(torch_error != nullptr ? torch_error->what_without_backtrace() : e.what());
}

// The text a placeholder's value becomes in the path.
StatusOr<std::string> PlaceholderText(const std::string& key, const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Search spaces write integers as 128.0 (quniform): the file is nets/mlp_128.pt.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
      return std::to_string(static_cast<int64_t>(d));
    }
    return v.dump();
  }
  return Params::FieldError(key, "a model_file template value must be a string, number or "
                                 "boolean");
}

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Loads the file, or says in one line why it is not a TorchScript file.
StatusOr<torch::jit::Module> LoadScript(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return Params::FieldError(kModelFile, path + ": " +
                                              (err == ENOENT || err == ENOTDIR
                                                   ? std::string("not found")
                                                   : std::string(std::strerror(err))));
  }
  if (S_ISDIR(st.st_mode)) return Params::FieldError(kModelFile, path + ": is a directory");
  try {
    torch::jit::Module script = torch::jit::load(path, torch::kCPU);
    if (!script.find_method("forward")) {
      return Params::FieldError(kModelFile,
                                path + ": the TorchScript module has no forward method");
    }
    return script;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    RethrowIfOutOfMemory(e);
    return Params::FieldError(kModelFile,
                              path + " is not a TorchScript file (" + MessageOf(e) + ")");
  }
}

// jit::Module::train asserts that every submodule has a `training` flag; Python's all
// have one, a module built in C++ need not: this switches those that have one.
void SetTraining(torch::jit::Module& script, bool on) {
  for (torch::jit::Module m : script.modules()) {
    if (auto slot = m._ivalue()->type()->findAttributeSlot("training")) {
      m._ivalue()->setSlot(*slot, on);
    }
  }
}

// `into` gets `script`'s own parameters and buffers (the same tensors) and one plain
// child module per script submodule, recursively: Module::save and load then use the
// names of Python's state_dict ("0.weight", "fc.bias").
void Mirror(const torch::jit::Module& script, torch::nn::Module& into) {
  for (const auto& p : script.named_parameters(/*recurse=*/false)) {
    into.register_parameter(p.name, p.value, p.value.requires_grad());
  }
  for (const auto& b : script.named_buffers(/*recurse=*/false)) {
    if (b.value.defined()) into.register_buffer(b.name, b.value);
  }
  for (const auto& c : script.named_children()) {
    auto child = std::make_shared<torch::nn::Module>();
    Mirror(c.value, *child);
    into.register_module(c.name, child);
  }
}

// The dry forward: a zero batch [2, *feature_shape] in eval mode (no dropout draws, no
// batch-norm statistics updated) must give a float32 [2, output_size]. Two examples, not
// one: a batch norm without running statistics normalises by the batch even in eval
// mode, and refuses a batch of one.
Status CheckForward(const std::string& path, ScriptModuleImpl& net, const InputSpec& input) {
  std::vector<int64_t> shape = {kDryBatch};
  shape.insert(shape.end(), input.feature_shape.begin(), input.feature_shape.end());
  const bool was_training = net.is_training();
  net.train(false);
  torch::Tensor out;
  std::string failure;
  try {
    torch::NoGradGuard no_grad;
    out = net.forward(torch::zeros(shape, torch::kFloat));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    RethrowIfOutOfMemory(e);
    failure = MessageOf(e);
  }
  net.train(was_training);
  if (!failure.empty()) {
    return Params::FieldError(kModelFile, path + ": forward fails on an input of shape " +
                                              ShapeText(shape) + " (the data's): " + failure);
  }
  const std::vector<int64_t> expected = {kDryBatch, input.output_size};
  if (out.sizes().vec() != expected) {
    return Params::FieldError(kModelFile, path + ": forward maps an input of shape " +
                                              ShapeText(shape) + " to " + ShapeText(out.sizes()) +
                                              ", the data needs " + ShapeText(expected));
  }
  if (out.scalar_type() != torch::kFloat) {
    return Params::FieldError(kModelFile, path + ": forward returns " +
                                              std::string(c10::toString(out.scalar_type())) +
                                              ", expected float32");
  }
  return Status::Ok();
}

// For `cerebro export`: the user's module itself, with its trained weights (copies, so the
// export does not change when the net trains on), in eval mode.
StatusOr<torch::jit::Module> ExportScript(const ModelConfig&, const InputSpec&,
                                          const Net& trained) {
  const torch::jit::Module* script = ScriptModuleOf(trained);
  if (script == nullptr) return Internal("export: a torchscript model without its script module");
  torch::jit::Module copy = script->deepcopy();
  SetTraining(copy, false);
  return copy;
}

StatusOr<Net> BuildTorchScript(const Params& params, const InputSpec& input) {
  ASSIGN_OR_RETURN(std::string path, TorchScriptModelFile(params));
  return LoadTorchScriptNet(path, input);
}

Status ValidateTorchScript(const Params& params) { return TorchScriptModelFile(params).status(); }

}  // namespace

ScriptModuleImpl::ScriptModuleImpl(torch::jit::Module script) : script_(std::move(script)) {
  Mirror(script_, *this);
  torch::nn::Module::train(script_.is_training());
}

void ScriptModuleImpl::train(bool on) {
  torch::nn::Module::train(on);
  SetTraining(script_, on);
}

torch::Tensor ScriptModuleImpl::forward(const torch::Tensor& x) {
  // The graph executor's optimizations (profiling runs, then a specialised plan with its
  // own autodiff) would make a pass's numbers depend on how many times this module ran
  // before, and a unit's on whether it started from a fresh load: without them the script
  // runs its ops as written, as eager torch would, and a model's units chain bitwise.
  torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
  c10::IValue out = script_.forward({x});
  TORCH_CHECK(out.isTensor(), "forward returned ", out.tagKind(), ", expected a Tensor");
  return out.toTensor();
}

StatusOr<std::string> TorchScriptModelFile(const Params& params) {
  if (!params.Has(kModelFile)) {
    return Params::FieldError(kModelFile, "required (the TorchScript file of the model)");
  }
  ASSIGN_OR_RETURN(std::string pattern, params.GetString(kModelFile, ""));
  if (pattern.empty()) return Params::FieldError(kModelFile, "expected a path");
  const Json all = Json::parse(params.ToJson());
  std::string path;
  std::set<std::string> used = {kModelFile};
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      if (pattern[i] == '}') {
        return Params::FieldError(kModelFile, "unmatched '}' in '" + pattern + "'");
      }
      path += pattern[i];
      continue;
    }
    const size_t close = pattern.find('}', i);
    const std::string name =
        close == std::string::npos ? "" : pattern.substr(i + 1, close - i - 1);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsNameChar)) {
      return Params::FieldError(kModelFile, "'" + pattern +
                                                "': a placeholder is {name}, name being a "
                                                "parameter (letters, digits, _)");
    }
    auto it = all.find(name);
    if (it == all.end()) {
      return Params::FieldError(kModelFile, "'" + pattern + "' uses {" + name +
                                                "}, but the configuration has no '" + name + "'");
    }
    ASSIGN_OR_RETURN(std::string text, PlaceholderText(name, *it));
    path += text;
    used.insert(name);
    i = close;
  }
  // A key the template does not name changes nothing: most likely a typo.
  for (auto it = all.begin(); it != all.end(); ++it) {
    if (used.count(it.key()) == 0) {
      return Params::FieldError(it.key(), "unknown parameter for model 'torchscript' (it takes "
                                          "model_file and the {names} its template uses)");
    }
  }
  return path;
}

StatusOr<Net> LoadTorchScriptNet(const std::string& path, const InputSpec& input) {
  ASSIGN_OR_RETURN(torch::jit::Module script, LoadScript(path));
  auto impl = std::make_shared<ScriptModuleImpl>(std::move(script));
  RETURN_IF_ERROR(CheckForward(path, *impl, input));
  return Net{impl, [impl](const torch::Tensor& x) { return impl->forward(x); }};
}

const torch::jit::Module* ScriptModuleOf(const Net& net) {
  const auto* impl = dynamic_cast<const ScriptModuleImpl*>(net.module.get());
  return impl == nullptr ? nullptr : &impl->script();
}

namespace internal {

void RegisterTorchScriptFamily() {
  Status st = RegisterFamilyUnchecked(kTorchScriptFamily, BuildTorchScript, {kAnyParamKey},
                                      ValidateTorchScript);
  // With the family, so that a net this family built always finds its exporter.
  if (st.ok()) st = RegisterExporter(kTorchScriptFamily, ExportScript);
  // Cannot fail unless the registry itself is broken (the name is reserved).
  if (!st.ok()) cerebro::internal::CheckFailed(__FILE__, __LINE__, st.ToString().c_str());
}

}  // namespace internal
}  // namespace cerebro::model

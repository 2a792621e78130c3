// The "torchscript" model family: a user's own architecture from a TorchScript file
// (`torch.jit.script(MyNet(...)).save("net.pt")` in Python), trained like any built-in
// family. Stateless functions; a Net it builds is used by one thread at a time.
//
// Config keys: `model_file` (required, a path; `{name}` in it is replaced by the value of
// the config's key `name`, so `nets/mlp_{width}.pt` with `width` in the search space picks
// one file per configuration) and exactly the keys its template names. The spec resolves a
// relative model_file against the spec file's directory (spec.h), so workers get absolute
// paths whatever their working directory.
//
// Initial weights are the file's own: a fresh model is the module as it was saved, and the
// unit's init_seed plays no part (re-initialise in Python before saving if you want other
// weights per file). What hops between units is the module's parameters and buffers, named
// as in Python's state_dict, plus the optimizer state, in the usual state codec.
//
// Checked before a model trains (the errors fail that model, not the run, as
// InvalidArgument naming params.model_file): the file exists, is a TorchScript archive
// with a forward method, and a dry forward of a zero batch [2, *feature_shape] in eval
// mode returns a float32 tensor [2, output_size].
//
// Export (model/export.h): the family's exporter is the script module itself, a copy with
// the trained weights, in eval mode.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <string>

#include "cerebro/common/status.h"
#include "cerebro/model/registry.h"

namespace cerebro::model {

inline constexpr char kTorchScriptFamily[] = "torchscript";

// A torch::jit::Module seen as a torch::nn::Module: it registers the script module's own
// parameter and buffer tensors (the same tensors, not copies, so an optimizer step or a
// loaded state changes the script module in place) under the script module's names and
// hierarchy, in its order. train(on) switches both.
class ScriptModuleImpl : public torch::nn::Module {
 public:
  explicit ScriptModuleImpl(torch::jit::Module script);
  void train(bool on = true) override;
  // Runs the script module's forward on x. Throws c10::Error as the script does, and
  // when forward returns anything but a tensor.
  torch::Tensor forward(const torch::Tensor& x);
  const torch::jit::Module& script() const { return script_; }

 private:
  torch::jit::Module script_;
};

// model_file with every `{name}` replaced by params' value of `name` (strings as they are,
// integers and integral floats as integers, other numbers as JSON writes them, booleans
// as true/false). InvalidArgument when model_file is missing or not a string, a
// placeholder is malformed or names an absent key or a list/object value, or params hold
// a key the template does not use.
StatusOr<std::string> TorchScriptModelFile(const Params& params);

// Loads `path` and checks it against `input` (see the top of this file).
StatusOr<Net> LoadTorchScriptNet(const std::string& path, const InputSpec& input);

// The script module inside a Net this family built, or nullptr for any other net.
const torch::jit::Module* ScriptModuleOf(const Net& net);

}  // namespace cerebro::model

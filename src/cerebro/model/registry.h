// Model families and the model config: how a flat JSON object such as
//   {"model":"mlp","hidden":[1000,500],"activation":"relu","dropout":0.1,
//    "optimizer":"adam","lr":1e-3,"weight_decay":0,"batch_size":128}
// becomes a validated ModelConfig and then a torch module.
//
// A *family* ("mlp", "cnn", or a user's own) is a factory plus the list of parameter keys
// it accepts. Built-in families are registered through the same RegisterFamily call as
// user families. The registry is process-wide (the one piece of mutable global state in
// this module) and guarded by a mutex: registration and lookup are thread-safe. A Net is
// used by one thread at a time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/model/config_defaults.h"

namespace cerebro::model {

// A read-only view of a family's parameters (the config minus the common keys below).
// The JSON representation stays private to this module; the getters return a value of
// the requested type or an InvalidArgument naming the field ("params.<key>: ...").
// Integers written as integral floats (128.0, as a search space may produce) are
// accepted as integers. Cheap to copy (shared, immutable).
class Params {
 public:
  Params();  // an empty object

  // Parses a JSON object. Errors: not JSON, or not an object.
  static StatusOr<Params> FromJson(const std::string& json_object);

  bool Has(const std::string& key) const;
  std::vector<std::string> Keys() const;  // sorted
  std::string ToJson() const;

  // Each returns `default_value` when the key is absent, the value when it has the
  // right type, and InvalidArgument("params.<key>: expected ...") otherwise.
  StatusOr<double> GetDouble(const std::string& key, double default_value) const;
  StatusOr<int64_t> GetInt(const std::string& key, int64_t default_value) const;
  StatusOr<std::string> GetString(const std::string& key, const std::string& default_value) const;
  StatusOr<std::vector<int64_t>> GetIntList(const std::string& key,
                                            const std::vector<int64_t>& default_value) const;

  // InvalidArgument("params.<key>: <what>"): the one error format for config fields.
  static Status FieldError(const std::string& key, const std::string& what);

  struct Impl;  // public only so registry.cc's helpers can build one

 private:
  explicit Params(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// What a factory knows about the data: the per-example shape (e.g. {784} or {1,28,28})
// and how many outputs the net must produce (num_classes, or 1 for regression).
struct InputSpec {
  std::vector<int64_t> feature_shape;
  int64_t output_size = 1;
};

// A built model. `module` owns every parameter and buffer (it is what is serialized,
// switched between train()/eval() and handed to the optimizer); `forward` maps a batch
// [N, *feature_shape] (float32) to [N, output_size]. Keeping forward as a function
// rather than requiring a common base class lets a factory return any torch module,
// including a torch::nn::Sequential, whose forward is a template.
struct Net {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
};

// Wraps a module holder (torch::nn::Sequential, torch::nn::Linear, a TORCH_MODULE of
// your own) whose forward(Tensor) returns a Tensor.
template <typename Holder>
Net MakeNet(Holder holder) {
  auto impl = holder.ptr();
  return Net{impl, [impl](const torch::Tensor& x) { return impl->forward(x); }};
}

// A family's factory: builds a freshly initialised net (weights drawn from torch's global
// generator, which the trainer seeds with the init seed). It may assume `params` passed
// the family's validator and holds only allowed keys. Errors should be InvalidArgument
// naming the field (e.g. a CNN whose image shrinks below 1 px); exceptions it throws are
// caught by BuildNet.
using Factory = std::function<StatusOr<Net>(const Params& params, const InputSpec& input)>;

// Optional data-independent validation of a family's params (types, ranges), used by
// ParseModelConfig, hence by cerebro_validate_model_config. Unknown keys are already
// rejected by the registry before it runs.
using Validator = std::function<Status(const Params& params)>;

// Registers a family under `name`. allowed_param_keys lists the family's own keys (the
// common keys below are always allowed); kAnyParamKey among them admits every other key
// too, for a family whose validator decides (torchscript: the names its file template
// uses). Fails with AlreadyExists if the name is taken (the built-in names "mlp", "cnn"
// and "torchscript" are reserved) and InvalidArgument if the name is empty, the factory
// is null, or an allowed key collides with a common key.
inline constexpr char kAnyParamKey[] = "*";
Status RegisterFamily(const std::string& name, Factory factory,
                      std::vector<std::string> allowed_param_keys, Validator validator = nullptr);

// Static-registration helper for a user's translation unit:
//   static cerebro::model::Registrar kMyNet("my_net", MyFactory, {"width"}, MyValidate);
// Aborts with a message if registration fails (a programming error). Note: put it in a
// file the final binary links directly (an object in a static library that nothing
// references is dropped by the linker, and its registrar never runs).
class Registrar {
 public:
  Registrar(const std::string& name, Factory factory, std::vector<std::string> allowed_param_keys,
            Validator validator = nullptr);
};

// Names of all registered families, sorted.
std::vector<std::string> RegisteredFamilies();

enum class OptimizerKind { kSgd, kAdam, kAdamW };
enum class LossKind { kDefault, kCrossEntropy, kMse };  // kDefault: by task

// The common keys every config may carry (all but "model" optional):
//   model        family name (required)
//   optimizer    "sgd" | "adam" | "adamw"             default "adam"
//   lr           > 0                                   default 1e-3
//   momentum     [0, 1), used by sgd only               default 0
//   weight_decay >= 0                                  default 0
//   batch_size   >= 1                                  default 32
//   loss         "cross_entropy" | "mse"               default: by task
struct ModelConfig {
  std::string family;
  Params params;  // the family's own keys only
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double lr = kDefaultLearningRate;
  double momentum = kDefaultMomentum;
  double weight_decay = kDefaultWeightDecay;
  int64_t batch_size = kDefaultBatchSize;
  LossKind loss = LossKind::kDefault;
};

// Parses and fully validates a config (common keys, family known, family keys allowed,
// family validator). Errors are one-line InvalidArgument messages naming the field.
StatusOr<ModelConfig> ParseModelConfig(const std::string& json);

// Builds a freshly initialised net for `config` on data described by `input`. Errors:
// InvalidArgument (config/data mismatch, e.g. a CNN on 1-D features), Internal (the
// factory threw or returned a net without a module or forward).
StatusOr<Net> BuildNet(const ModelConfig& config, const InputSpec& input);

namespace internal {
// Defined in families.cc; called once by the registry before its first lookup. Calling
// it from the registry (rather than relying on static registrars in families.cc) keeps
// the linker from dropping the built-in families out of the static library.
void RegisterBuiltinFamilies();
// Defined in torchscript_family.cc; called with the built-ins, for the same reason.
void RegisterTorchScriptFamily();
// Registers without the reserved-name check; used for the built-ins only.
Status RegisterFamilyUnchecked(const std::string& name, Factory factory,
                               std::vector<std::string> allowed_param_keys, Validator validator);
}  // namespace internal

}  // namespace cerebro::model

#include "cerebro/model/registry.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace cerebro::model {

using Json = nlohmann::json;

struct Params::Impl {
  Json object = Json::object();
};

namespace {

// Keys the trainer reads; every family accepts them, none may redefine them.
const std::set<std::string>& CommonKeys() {
  static const std::set<std::string> kKeys = {"model",        "optimizer",  "lr",  "momentum",
                                              "weight_decay", "batch_size", "loss"};
  return kKeys;
}

bool IsReservedName(const std::string& name) {
  return name == "mlp" || name == "cnn" || name == "torchscript";
}

struct Family {
  Factory factory;
  std::set<std::string> allowed_keys;
  Validator validator;
};

// The registry itself. A function-local static so that user Registrars running during
// static initialisation of other translation units find it constructed.
struct Registry {
  std::mutex mu;
  std::map<std::string, Family> families;
};

Registry& GetRegistry() {
  static Registry registry;
  return registry;
}

void EnsureBuiltins() {
  static std::once_flag once;
  std::call_once(once, [] {
    internal::RegisterBuiltinFamilies();
    internal::RegisterTorchScriptFamily();
  });
}

// Copies the family out so that the factory runs without holding the lock.
bool FindFamily(const std::string& name, Family* out) {
  EnsureBuiltins();
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.families.find(name);
  if (it == r.families.end()) return false;
  *out = it->second;
  return true;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// An integer, or a float with an integral value (search spaces such as quniform
// produce 128.0 for an integer hyperparameter).
bool AsInt(const Json& v, int64_t* out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return false;
    }
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

}  // namespace

Params::Params() : impl_(std::make_shared<Impl>()) {}
Params::Params(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

StatusOr<Params> Params::FromJson(const std::string& json_object) {
  auto impl = std::make_shared<Impl>();
  try {
    impl->object = Json::parse(json_object);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("model config: invalid JSON: ") + e.what());
  }
  if (!impl->object.is_object()) {
    return InvalidArgument("model config: expected a JSON object");
  }
  return Params(std::move(impl));
}

bool Params::Has(const std::string& key) const { return impl_->object.contains(key); }

std::vector<std::string> Params::Keys() const {
  std::vector<std::string> keys;
  for (auto it = impl_->object.begin(); it != impl_->object.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string Params::ToJson() const { return impl_->object.dump(); }

Status Params::FieldError(const std::string& key, const std::string& what) {
  return InvalidArgument("params." + key + ": " + what);
}

StatusOr<double> Params::GetDouble(const std::string& key, double default_value) const {
  auto it = impl_->object.find(key);
  if (it == impl_->object.end()) return default_value;
  if (!it->is_number()) return FieldError(key, "expected a number");
  double d = it->get<double>();
  if (!std::isfinite(d)) return FieldError(key, "expected a finite number");
  return d;
}

StatusOr<int64_t> Params::GetInt(const std::string& key, int64_t default_value) const {
  auto it = impl_->object.find(key);
  if (it == impl_->object.end()) return default_value;
  int64_t v = 0;
  if (!AsInt(*it, &v)) return FieldError(key, "expected an integer");
  return v;
}

StatusOr<std::string> Params::GetString(const std::string& key,
                                        const std::string& default_value) const {
  auto it = impl_->object.find(key);
  if (it == impl_->object.end()) return default_value;
  if (!it->is_string()) return FieldError(key, "expected a string");
  return it->get<std::string>();
}

StatusOr<std::vector<int64_t>> Params::GetIntList(const std::string& key,
                                                  const std::vector<int64_t>& default_value) const {
  auto it = impl_->object.find(key);
  if (it == impl_->object.end()) return default_value;
  if (!it->is_array()) return FieldError(key, "expected a list of integers");
  std::vector<int64_t> out;
  for (const auto& e : *it) {
    int64_t v = 0;
    if (!AsInt(e, &v)) return FieldError(key, "expected a list of integers");
    out.push_back(v);
  }
  return out;
}

namespace internal {

Status RegisterFamilyUnchecked(const std::string& name, Factory factory,
                               std::vector<std::string> allowed_param_keys, Validator validator) {
  if (name.empty()) return InvalidArgument("RegisterFamily: empty family name");
  if (!factory) return InvalidArgument("RegisterFamily(" + name + "): null factory");
  Family family;
  family.factory = std::move(factory);
  family.validator = std::move(validator);
  for (auto& key : allowed_param_keys) {
    if (CommonKeys().count(key) != 0) {
      return InvalidArgument("RegisterFamily(" + name + "): '" + key +
                             "' is a common key and cannot be a family parameter");
    }
    family.allowed_keys.insert(std::move(key));
  }
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.families.emplace(name, std::move(family)).second) {
    return AlreadyExists("RegisterFamily: model family '" + name + "' is already registered");
  }
  return Status::Ok();
}

}  // namespace internal

Status RegisterFamily(const std::string& name, Factory factory,
                      std::vector<std::string> allowed_param_keys, Validator validator) {
  // Reserved explicitly (not by lookup) so that a registrar running before the built-ins
  // are installed cannot take their names.
  if (IsReservedName(name)) {
    return AlreadyExists("RegisterFamily: '" + name + "' is a built-in model family");
  }
  return internal::RegisterFamilyUnchecked(name, std::move(factory), std::move(allowed_param_keys),
                                           std::move(validator));
}

Registrar::Registrar(const std::string& name, Factory factory,
                     std::vector<std::string> allowed_param_keys, Validator validator) {
  Status st =
      RegisterFamily(name, std::move(factory), std::move(allowed_param_keys), std::move(validator));
  if (!st.ok()) {
    // A duplicate or malformed registration is a bug in the program, found at start-up.
    cerebro::internal::CheckFailed(__FILE__, __LINE__, st.ToString().c_str());
  }
}

std::vector<std::string> RegisteredFamilies() {
  EnsureBuiltins();
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [name, family] : r.families) names.push_back(name);
  return names;  // std::map: already sorted
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& json) {
  ASSIGN_OR_RETURN(Params all, Params::FromJson(json));
  ModelConfig config;

  if (!all.Has("model")) {
    return Params::FieldError("model",
                              "required (one of: " + JoinNames(RegisteredFamilies()) + ")");
  }
  ASSIGN_OR_RETURN(config.family, all.GetString("model", ""));
  Family family;
  if (!FindFamily(config.family, &family)) {
    return Params::FieldError("model", "unknown model family '" + config.family +
                                           "' (registered: " + JoinNames(RegisteredFamilies()) +
                                           ")");
  }

  ASSIGN_OR_RETURN(std::string optimizer, all.GetString("optimizer", "adam"));
  if (optimizer == "sgd") {
    config.optimizer = OptimizerKind::kSgd;
  } else if (optimizer == "adam") {
    config.optimizer = OptimizerKind::kAdam;
  } else if (optimizer == "adamw") {
    config.optimizer = OptimizerKind::kAdamW;
  } else {
    return Params::FieldError("optimizer",
                              "expected one of sgd, adam, adamw; got '" + optimizer + "'");
  }

  ASSIGN_OR_RETURN(config.lr, all.GetDouble("lr", config.lr));
  if (!(config.lr > 0)) return Params::FieldError("lr", "expected a number > 0");
  ASSIGN_OR_RETURN(config.momentum, all.GetDouble("momentum", config.momentum));
  if (!(config.momentum >= 0 && config.momentum < 1)) {
    return Params::FieldError("momentum", "expected a number in [0, 1)");
  }
  ASSIGN_OR_RETURN(config.weight_decay, all.GetDouble("weight_decay", config.weight_decay));
  if (!(config.weight_decay >= 0))
    return Params::FieldError("weight_decay", "expected a number >= 0");
  auto batch_size = all.GetInt("batch_size", config.batch_size);
  if (!batch_size.ok() || *batch_size < 1) {
    return Params::FieldError("batch_size", "expected an integer >= 1");
  }
  config.batch_size = *batch_size;

  ASSIGN_OR_RETURN(std::string loss, all.GetString("loss", ""));
  if (loss.empty() && !all.Has("loss")) {
    config.loss = LossKind::kDefault;
  } else if (loss == "cross_entropy") {
    config.loss = LossKind::kCrossEntropy;
  } else if (loss == "mse") {
    config.loss = LossKind::kMse;
  } else {
    return Params::FieldError("loss", "expected one of cross_entropy, mse; got '" + loss + "'");
  }

  // Everything else belongs to the family and must be one of its keys.
  auto impl = std::make_shared<Params::Impl>();
  std::vector<std::string> allowed(family.allowed_keys.begin(), family.allowed_keys.end());
  Json parsed = Json::parse(all.ToJson());
  for (auto it = parsed.begin(); it != parsed.end(); ++it) {
    if (CommonKeys().count(it.key()) != 0) continue;
    if (family.allowed_keys.count(it.key()) == 0 && family.allowed_keys.count(kAnyParamKey) == 0) {
      return Params::FieldError(it.key(), "unknown parameter for model '" + config.family +
                                              "' (allowed: " + JoinNames(allowed) + ")");
    }
    impl->object[it.key()] = it.value();
  }
  ASSIGN_OR_RETURN(config.params, Params::FromJson(impl->object.dump()));
  if (family.validator) RETURN_IF_ERROR(family.validator(config.params));
  return config;
}

StatusOr<Net> BuildNet(const ModelConfig& config, const InputSpec& input) {
  Family family;
  if (!FindFamily(config.family, &family)) {
    return Params::FieldError("model", "unknown model family '" + config.family + "'");
  }
  if (input.feature_shape.empty() || input.output_size < 1 ||
      std::any_of(input.feature_shape.begin(), input.feature_shape.end(),
                  [](int64_t d) { return d < 1; })) {
    return InvalidArgument("model '" + config.family + "': invalid input description");
  }
  StatusOr<Net> net = Internal("unreachable");
  try {
    net = family.factory(config.params, input);
  } catch (const c10::Error& e) {
    return Internal("model '" + config.family + "': factory failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal("model '" + config.family + "': factory failed: " + e.what());
  }
  if (!net.ok()) return net.status();
  if (!net->module || !net->forward) {
    return Internal("model '" + config.family +
                    "': factory returned a net without module or forward");
  }
  return net;
}

}  // namespace cerebro::model

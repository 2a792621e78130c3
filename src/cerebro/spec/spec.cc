#include "cerebro/spec/spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "cerebro/spec/spec_paths.h"
#include "cerebro/spec/yaml_document.h"

namespace cerebro::spec {
namespace {

using internal::DataFileField;
using internal::ResolveDataFiles;
using internal::ResolveModelFiles;
using internal::WhyNotAFile;

std::string Describe(const Json& v) {
  std::string s = v.is_string() ? v.get<std::string>()
                                : v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return v.is_string() ? "'" + s + "'" : s;
}

std::string Join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// Walks one JSON object, reading typed fields and rejecting keys nobody asked for.
class Section {
 public:
  Section(const Json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  bool Has(const std::string& key) const { return obj_.is_object() && obj_.contains(key); }
  const Json* Get(const std::string& key) {
    known_.insert(key);
    if (!Has(key) || obj_.at(key).is_null()) return nullptr;
    return &obj_.at(key);
  }

  Status String(const std::string& key, std::string* out, const std::vector<std::string>& allowed = {}) {
    const Json* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return InvalidArgument(Path(key) + ": expected a string, got " + Describe(*v));
    std::string s = v->get<std::string>();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      return InvalidArgument(Path(key) + ": expected one of " + Join(allowed) + ", got '" + s + "'");
    }
    *out = s;
    return Status::Ok();
  }

  // Integers never wrap: a value past int64 is "too large", not a negative number.
  Status Int(const std::string& key, int64_t* out, int64_t min_value) {
    const Json* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer()) {
      const char* what = min_value == 1   ? "a positive integer"
                         : min_value == 0 ? "a non-negative integer"
                                          : "an integer";
      return InvalidArgument(Path(key) + ": expected " + what + ", got " + Describe(*v));
    }
    if (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX) {
      return InvalidArgument(Path(key) + ": too large: " + v->dump());
    }
    int64_t x = v->get<int64_t>();
    if (x < min_value) {
      return InvalidArgument(Path(key) + ": must be >= " + std::to_string(min_value) + ", got " +
                             std::to_string(x));
    }
    *out = x;
    return Status::Ok();
  }
  Status Int(const std::string& key, int* out, int64_t min_value) {
    int64_t x = *out;
    RETURN_IF_ERROR(Int(key, &x, min_value));
    if (x > 1'000'000'000) return InvalidArgument(Path(key) + ": too large: " + std::to_string(x));
    *out = static_cast<int>(x);
    return Status::Ok();
  }

  // The whole uint64 range (seeds); nothing is clamped.
  Status Uint64(const std::string& key, uint64_t* out) {
    const Json* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      return InvalidArgument(Path(key) + ": expected an integer in [0, 2^64 - 1], got " +
                             Describe(*v));
    }
    *out = v->get<uint64_t>();
    return Status::Ok();
  }

  // One of E's names (EnumNames<E>); `given` (optional) says whether the key was set.
  template <typename E>
  Status Enum(const std::string& key, E* out, bool* given = nullptr) {
    const Json* v = Get(key);
    if (given != nullptr) *given = v != nullptr;
    if (v == nullptr) return Status::Ok();
    std::optional<E> e = v->is_string() ? ParseEnum<E>(v->get<std::string>()) : std::nullopt;
    if (!e) {
      return InvalidArgument(Path(key) + ": expected one of " + EnumChoices<E>() + ", got " +
                             Describe(*v));
    }
    *out = *e;
    return Status::Ok();
  }

  Status Double(const std::string& key, double* out) {
    const Json* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number()) return InvalidArgument(Path(key) + ": expected a number, got " + Describe(*v));
    *out = v->get<double>();
    if (!std::isfinite(*out)) return InvalidArgument(Path(key) + ": must be finite");
    return Status::Ok();
  }

  Status Bool(const std::string& key, bool* out) {
    const Json* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return InvalidArgument(Path(key) + ": expected true or false, got " + Describe(*v));
    *out = v->get<bool>();
    return Status::Ok();
  }

  // Fails on the first key that no Get() asked for.
  Status NoUnknownKeys() const {
    if (!obj_.is_object()) return Status::Ok();
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!known_.count(it.key())) {
        std::vector<std::string> k(known_.begin(), known_.end());
        return InvalidArgument(Path(it.key()) + ": unknown key (expected one of: " + Join(k) + ")");
      }
    }
    return Status::Ok();
  }

 private:
  const Json& obj_;
  std::string path_;
  std::set<std::string> known_;
};

Status RequireObject(const Json* v, const std::string& path) {
  if (v != nullptr && !v->is_object()) {
    return InvalidArgument(path + ": expected a mapping, got " + Describe(*v));
  }
  return Status::Ok();
}

bool IsIntegral(double x) { return std::floor(x) == x && std::fabs(x) < 9e15; }

// `when: {param: value}` or `when: {param: [value, ...]}` (any of them). A list always
// lists allowed values, so a condition on a list-valued choice wraps it: [[16, 32]].
StatusOr<std::vector<Condition>> ParseWhen(const Json& w, const std::string& path) {
  if (!w.is_object() || w.empty()) {
    return InvalidArgument(path + ": expected a mapping of parameter to allowed value(s), e.g. "
                           "{model: cnn}");
  }
  std::vector<Condition> out;
  for (auto it = w.begin(); it != w.end(); ++it) {
    Condition c;
    c.param = it.key();
    if (it.value().is_array()) {
      for (const auto& x : it.value()) c.values.push_back(x);
    } else {
      c.values.push_back(it.value());
    }
    if (c.values.empty()) return InvalidArgument(path + "." + c.param + ": no allowed values");
    out.push_back(std::move(c));
  }
  return out;
}

StatusOr<Param> ParseParam(const std::string& name, const Json& given, const std::string& path) {
  using Kind = Distribution::Kind;
  Param p;
  p.name = name;
  // A conditional param is its unconditional form plus `when`: {when: ..., choice: [...]}
  // or, for a fixed value, {when: ..., value: X}.
  const Json* vp = &given;
  Json rest;
  if (given.is_object() && given.contains("when")) {
    ASSIGN_OR_RETURN(p.when, ParseWhen(given.at("when"), path + ".when"));
    rest = given;
    rest.erase("when");
    if (rest.size() == 1 && rest.contains("value")) {
      if (rest.at("value").is_null()) return InvalidArgument(path + ".value: missing value");
      p.value = rest.at("value");
      return p;
    }
    if (rest.size() != 1 || !ParseEnum<Kind>(rest.begin().key())) {
      return InvalidArgument(path + ": a conditional parameter is {when: ..., value: X} or "
                             "{when: ..., <one of " + EnumChoices<Kind>() + ">: ...}");
    }
    vp = &rest;
  }
  const Json& v = *vp;
  std::optional<Kind> kind_of =
      v.is_object() && v.size() == 1 ? ParseEnum<Kind>(v.begin().key()) : std::nullopt;
  bool is_dist = kind_of.has_value();
  if (v.is_object() && !is_dist) {
    return InvalidArgument(path + ": a distribution is a mapping with one key among " +
                           EnumChoices<Kind>());
  }
  if (!is_dist) {
    if (v.is_null()) return InvalidArgument(path + ": missing value");
    p.value = v;
    return p;
  }
  p.searched = true;
  const std::string kind = v.begin().key();
  const Json& args = v.begin().value();
  std::string apath = path + "." + kind;
  Distribution& d = p.dist;
  d.kind = *kind_of;
  if (d.kind == Kind::kChoice) {
    if (!args.is_array()) return InvalidArgument(apath + ": expected a list of values");
    if (args.empty()) return InvalidArgument(apath + ": empty choice (give at least one value)");
    for (const auto& c : args) d.choices.push_back(c);
    return p;
  }
  const bool quantized = d.kind == Kind::kQUniform || d.kind == Kind::kQLogUniform;
  const bool log = d.kind == Kind::kLogUniform || d.kind == Kind::kQLogUniform;
  size_t want = quantized ? 3 : 2;
  if (!args.is_array() || args.size() != want) {
    return InvalidArgument(apath + ": expected [" + (quantized ? "low, high, q" : "low, high") +
                           "]" + (log ? " (base-10 exponents)" : ""));
  }
  for (const auto& a : args) {
    if (!a.is_number() || !std::isfinite(a.get<double>())) {
      return InvalidArgument(apath + ": bounds must be finite numbers, got " + Describe(a));
    }
  }
  d.low = args[0].get<double>();
  d.high = args[1].get<double>();
  if (!(d.low < d.high)) {
    return InvalidArgument(apath + ": low must be < high, got [" + Describe(args[0]) + ", " +
                           Describe(args[1]) + "]");
  }
  if (log && (d.low < -300 || d.high > 300)) {
    return InvalidArgument(apath + ": exponents must lie in [-300, 300] (base 10)");
  }
  if (quantized) {
    d.q = args[2].get<double>();
    if (!(d.q > 0)) return InvalidArgument(apath + ": q must be > 0, got " + Describe(args[2]));
    bool int_bounds = d.kind == Kind::kQUniform ? (IsIntegral(d.low) && IsIntegral(d.high)) : true;
    d.integer = IsIntegral(d.q) && int_bounds;
  }
  return p;
}


Status ParseData(Section& root, DataSpec* d, std::vector<DataFileField>* files) {
  const Json* v = root.Get("data");
  if (v == nullptr) return InvalidArgument("data: missing (where is the dataset?)");
  RETURN_IF_ERROR(RequireObject(v, "data"));
  Section s(*v, "data");
  if (const Json* store = s.Get("store")) {
    if (!store->is_string() || store->get<std::string>().empty()) {
      return InvalidArgument("data.store: expected the directory of a store made by `cerebro prepare`");
    }
    for (const char* key : {"format", "train", "validation", "feature_scale"}) {
      if (s.Get(key) != nullptr) {
        return InvalidArgument(std::string("data.") + key +
                               ": not with data.store (the store was prepared from its own source)");
      }
    }
    d->store = store->get<std::string>();
    files->push_back({"data.store", &d->store, /*store=*/true});
    return s.NoUnknownKeys();
  }
  RETURN_IF_ERROR(s.String("format", &d->format, {"idx", "csv", "libsvm"}));
  RETURN_IF_ERROR(s.Double("feature_scale", &d->feature_scale));
  if (!(d->feature_scale != 0)) return InvalidArgument("data.feature_scale: must be non-zero");

  auto parse_file_section = [&](const std::string& key, std::string* path, std::string* labels,
                                double* fraction, bool required) -> Status {
    const Json* fv = s.Get(key);
    std::string p = s.Path(key);
    if (fv == nullptr) return required ? InvalidArgument(p + ": missing") : Status::Ok();
    if (fv->is_string()) {  // shorthand: the file itself (csv, libsvm)
      *path = fv->get<std::string>();
    } else {
      RETURN_IF_ERROR(RequireObject(fv, p));
      Section f(*fv, p);
      if (d->format == "idx") {
        RETURN_IF_ERROR(f.String("images", path));
        RETURN_IF_ERROR(f.String("labels", labels));
      } else {
        RETURN_IF_ERROR(f.String("path", path));
      }
      if (fraction != nullptr) RETURN_IF_ERROR(f.Double("fraction", fraction));
      if (d->format == "csv" && key == "train") {
        RETURN_IF_ERROR(f.Bool("header", &d->csv_header));
        const Json* lc = f.Get("label_column");
        if (lc != nullptr) {
          if (lc->is_string()) d->csv_label_column = lc->get<std::string>();
          else if (lc->is_number_integer() && lc->get<int64_t>() >= 0)
            d->csv_label_column = std::to_string(lc->get<int64_t>());
          else return InvalidArgument(f.Path("label_column") + ": expected a column name or index");
        }
        std::string delim;
        RETURN_IF_ERROR(f.String("delimiter", &delim));
        if (!delim.empty()) {
          if (delim.size() != 1) return InvalidArgument(f.Path("delimiter") + ": must be one character");
          d->csv_delimiter = delim[0];
        }
      }
      if (d->format == "libsvm" && key == "train") {
        RETURN_IF_ERROR(f.Int("num_features", &d->libsvm_num_features, 1));
      }
      RETURN_IF_ERROR(f.NoUnknownKeys());
    }
    bool has_file = !path->empty();
    bool has_fraction = fraction != nullptr && *fraction != 0.0;
    if (fraction != nullptr && has_fraction) {
      if (has_file) return InvalidArgument(p + ": give either a file or a fraction, not both");
      if (!(*fraction > 0 && *fraction < 1)) {
        return InvalidArgument(p + ".fraction: must be in (0, 1), got " + std::to_string(*fraction));
      }
      return Status::Ok();
    }
    if (!has_file) {
      return InvalidArgument(p + (d->format == "idx" ? ".images" : ".path") + ": missing");
    }
    if (d->format == "idx" && labels->empty()) return InvalidArgument(p + ".labels: missing");
    if (d->format == "idx") {
      files->push_back({p + ".images", path});
      files->push_back({p + ".labels", labels});
    } else {
      files->push_back({fv->is_string() ? p : p + ".path", path});
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(parse_file_section("train", &d->train_path, &d->train_labels_path, nullptr, true));
  RETURN_IF_ERROR(
      parse_file_section("validation", &d->val_path, &d->val_labels_path, &d->val_fraction, true));
  return s.NoUnknownKeys();
}

Status ParseSearch(Section& root, SearchSpec* search) {
  const Json* v = root.Get("search");
  if (v == nullptr) return Status::Ok();
  RETURN_IF_ERROR(RequireObject(v, "search"));
  Section s(*v, "search");
  RETURN_IF_ERROR(s.Enum("method", &search->method));
  RETURN_IF_ERROR(s.Int("num_models", &search->num_models, 1));
  if (search->method == SearchMethod::kGrid || search->method == SearchMethod::kRandom) {
    return s.NoUnknownKeys();
  }
  for (auto it = v->begin(); it != v->end(); ++it) {  // the procedure's own knobs
    if (it.key() != "method" && it.key() != "num_models") search->options[it.key()] = it.value();
  }
  return Status::Ok();
}

// The metrics a spec may rank by: the direction follows from the name, and a metric is
// only meaningful for some tasks (accuracy of a regression is the fraction of exactly
// equal floats: it would rank models by noise). accuracy and loss are the validation
// set's; num_parameters and seconds_per_example are the model's size and measured cost
// (spec.h), meant as a second objective.
struct MetricRule {
  const char* name;
  Direction direction;
  bool classification, regression;
};
constexpr MetricRule kMetrics[] = {{"accuracy", Direction::kMaximize, true, false},
                                   {"loss", Direction::kMinimize, true, true},
                                   {"train_accuracy", Direction::kMaximize, true, false},
                                   {"train_loss", Direction::kMinimize, true, true},
                                   {"num_parameters", Direction::kMinimize, true, true},
                                   {"seconds_per_example", Direction::kMinimize, true, true}};

bool Fits(const MetricRule& m, Task task) {
  return task == Task::kClassification ? m.classification : m.regression;
}

const MetricRule* FindMetric(const std::string& name) {
  for (const MetricRule& m : kMetrics) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

std::string MetricNames() {
  std::string out;
  for (const MetricRule& m : kMetrics) out += (out.empty() ? "" : ", ") + std::string(m.name);
  return out;
}

// One objective: a name, or {name, direction}. The direction follows from the name; a
// given direction must agree. `path` is "metric" or "metric[i]".
Status ParseObjective(const Json& m, const std::string& path, MetricSpec* metric) {
  bool direction_given = false;
  if (m.is_string()) {
    metric->name = m.get<std::string>();
  } else {
    RETURN_IF_ERROR(RequireObject(&m, path));
    Section s(m, path);
    if (!s.Has("name")) return InvalidArgument(path + ".name: missing");
    RETURN_IF_ERROR(s.String("name", &metric->name));
    RETURN_IF_ERROR(s.Enum("direction", &metric->direction, &direction_given));
    RETURN_IF_ERROR(s.NoUnknownKeys());
  }
  const MetricRule* rule = FindMetric(metric->name);
  if (rule == nullptr) {
    return InvalidArgument(path + ".name: expected one of " + MetricNames() + ", got '" +
                           metric->name + "'");
  }
  const Direction natural = rule->direction;
  if (direction_given && metric->direction != natural) {
    return InvalidArgument(path + ".direction: " + metric->name + " must be '" +
                           std::string(EnumName(natural)) + "'");
  }
  metric->direction = natural;
  return Status::Ok();
}

// `metric:` is one objective or a list of them (spec.h); a list of one is the same as
// that one objective alone.
Status ParseMetric(Section& root, Task task, MetricSpec* metric,
                   std::vector<MetricSpec>* objectives) {
  const Json* m = root.Get("metric");
  if (m == nullptr) return ParseObjective(Json(task == Task::kRegression ? "loss" : "accuracy"),
                                          "metric", metric);
  if (!m->is_array()) return ParseObjective(*m, "metric", metric);
  if (m->empty()) return InvalidArgument("metric: expected at least one objective, got []");
  std::vector<MetricSpec> list;
  for (size_t i = 0; i < m->size(); ++i) {
    const std::string path = "metric[" + std::to_string(i) + "]";
    MetricSpec o;
    RETURN_IF_ERROR(ParseObjective((*m)[i], path, &o));
    for (const MetricSpec& earlier : list) {
      if (earlier.name == o.name) return InvalidArgument(path + ".name: " + o.name + " is listed twice");
    }
    list.push_back(o);
  }
  *metric = list.front();
  if (list.size() > 1) *objectives = std::move(list);
  return Status::Ok();
}

Status PositiveDouble(Section& s, const std::string& key, double* out) {
  RETURN_IF_ERROR(s.Double(key, out));
  if (*out <= 0) return InvalidArgument(s.Path(key) + ": must be > 0");
  return Status::Ok();
}

Status ParseRun(Section& root, RunSpec* run) {
  if (const Json* r = root.Get("run")) {
    RETURN_IF_ERROR(RequireObject(r, "run"));
    Section s(*r, "run");
    RETURN_IF_ERROR(s.Int("epochs", &run->epochs, 1));
    RETURN_IF_ERROR(s.Int("workers", &run->workers, 1));
    RETURN_IF_ERROR(s.Enum("strategy", &run->strategy));
    RETURN_IF_ERROR(s.Enum("order", &run->order));
    RETURN_IF_ERROR(s.Uint64("seed", &run->seed));
    RETURN_IF_ERROR(s.Int("partitions", &run->partitions, 0));
    RETURN_IF_ERROR(s.Int("threads_per_worker", &run->threads_per_worker, 1));
    RETURN_IF_ERROR(s.Int("max_unit_retries", &run->max_unit_retries, 0));
    RETURN_IF_ERROR(s.Int("keep_best", &run->keep_best, 0));
    RETURN_IF_ERROR(s.Bool("keep_failed", &run->keep_failed));
    RETURN_IF_ERROR(s.Enum("checkpoint", &run->checkpoint));
    RETURN_IF_ERROR(PositiveDouble(s, "unit_timeout_factor", &run->unit_timeout_factor));
    RETURN_IF_ERROR(PositiveDouble(s, "unit_timeout_min_seconds", &run->unit_timeout_min_seconds));
    RETURN_IF_ERROR(PositiveDouble(s, "first_unit_timeout_seconds", &run->first_unit_timeout_seconds));
    RETURN_IF_ERROR(s.Enum("backend", &run->backend));
    RETURN_IF_ERROR(s.String("ray_address", &run->ray_address));
    RETURN_IF_ERROR(s.NoUnknownKeys());
  }
  // Sequential training is one worker by definition (spec.h).
  if (run->strategy == Strategy::kSequential) run->workers = 1;
  return Status::Ok();
}

// The typed spec from the document (YAML already converted to JSON, overrides applied);
// `files` receives the data files it names.
Status ReadSpec(const Json& doc, ExperimentSpec* spec, std::vector<DataFileField>* files) {
  Section root(doc, "");
  RETURN_IF_ERROR(root.String("name", &spec->name));
  RETURN_IF_ERROR(root.Enum("task", &spec->task));
  RETURN_IF_ERROR(ParseData(root, &spec->data, files));
  const Json* params = root.Get("params");
  if (params == nullptr) {
    return InvalidArgument("params: missing (the model and its hyperparameters)");
  }
  RETURN_IF_ERROR(RequireObject(params, "params"));
  if (!params->contains("model")) return InvalidArgument("params.model: missing (e.g. mlp or cnn)");
  for (auto it = params->begin(); it != params->end(); ++it) {
    ASSIGN_OR_RETURN(Param p, ParseParam(it.key(), it.value(), "params." + it.key()));
    spec->params.push_back(std::move(p));
  }
  RETURN_IF_ERROR(ParseSearch(root, &spec->search));
  RETURN_IF_ERROR(ParseMetric(root, spec->task, &spec->metric, &spec->objectives));
  RETURN_IF_ERROR(ParseRun(root, &spec->run));
  RETURN_IF_ERROR(root.NoUnknownKeys());
  return Validate(*spec);
}

// Sets each override's path in the document, making the mappings on the way. A path
// through something that is not a mapping is left alone: reading the document reports
// that field of the file ("run: expected a mapping").
void ApplyOverrides(const Overrides& overrides, Json* doc) {
  for (const Override& o : overrides) {
    Json* node = doc;
    size_t start = 0;
    while (node != nullptr) {
      const size_t dot = o.path.find('.', start);
      const std::string key = o.path.substr(start, dot == std::string::npos ? dot : dot - start);
      if (node->is_null()) *node = Json::object();
      if (!node->is_object()) break;
      if (dot == std::string::npos) {
        (*node)[key] = o.value;
        break;
      }
      node = &(*node)[key];
      start = dot + 1;
    }
  }
}

// An error about an overridden field names the flag that set it, not the file.
Status Blame(const Status& st, const std::string& source_name, const Overrides& overrides) {
  for (const Override& o : overrides) {
    const std::string prefix = o.path + ": ";
    if (st.message().rfind(prefix, 0) == 0) {
      return Status(st.code(), o.name + ": " + st.message().substr(prefix.size()));
    }
  }
  return st.WithContext(source_name);
}

// ParseSpecString into `spec`, reporting the data files it names in `files` (pointers
// into `spec`).
Status ParseSpecText(const std::string& text, const std::string& source_name,
                     const Overrides& overrides, ExperimentSpec* spec,
                     std::vector<DataFileField>* files) {
  auto with_source = [&](const Status& st) { return st.WithContext(source_name); };
  StatusOr<Json> parsed = YamlDocumentToJson(text);
  if (!parsed.ok()) return with_source(parsed.status());
  Json doc = std::move(parsed).value();
  if (!doc.is_object()) return with_source(InvalidArgument("expected a mapping at the top level"));
  ApplyOverrides(overrides, &doc);
  Status st = ReadSpec(doc, spec, files);
  if (!st.ok()) return Blame(st, source_name, overrides);
  spec->source_file = source_name;
  return Status::Ok();
}

// Each condition names an earlier param (file order, which also rules out cycles) that
// is a choice or a fixed value, and only values that param can take.
Status ValidateConditions(const std::vector<Param>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (p.when.empty()) continue;
    const std::string path = "params." + p.name + ".when";
    if (p.name == "model") {
      return InvalidArgument("params.model.when: the model is never conditional");
    }
    for (const Condition& c : p.when) {
      const std::string cpath = path + "." + c.param;
      auto before = std::find_if(params.begin(), params.begin() + static_cast<long>(i),
                                 [&](const Param& q) { return q.name == c.param; });
      if (before == params.begin() + static_cast<long>(i)) {
        const bool later = std::any_of(params.begin() + static_cast<long>(i), params.end(),
                                       [&](const Param& q) { return q.name == c.param; });
        return InvalidArgument(cpath + ": " +
                               (later ? "must be defined before " + p.name + " (file order)"
                                      : "no such parameter"));
      }
      if (before->searched && before->dist.kind != Distribution::Kind::kChoice) {
        return InvalidArgument(cpath + ": a condition needs a choice or a fixed value, " +
                               c.param + " is " + std::string(EnumName(before->dist.kind)));
      }
      const std::vector<Json> possible =
          before->searched ? before->dist.choices : std::vector<Json>{before->value};
      if (c.values.empty()) return InvalidArgument(cpath + ": no allowed values");
      for (const Json& x : c.values) {
        if (std::find(possible.begin(), possible.end(), x) == possible.end()) {
          return InvalidArgument(cpath + ": " + Describe(x) + " is not a possible value of " +
                                 c.param);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ExperimentSpec> ParseSpecString(const std::string& text, const std::string& source_name,
                                         const Overrides& overrides) {
  ExperimentSpec spec;
  std::vector<DataFileField> files;
  RETURN_IF_ERROR(ParseSpecText(text, source_name, overrides, &spec, &files));
  return spec;
}

StatusOr<ExperimentSpec> ParseSpecFile(const std::string& path, const Overrides& overrides) {
  auto [code, why] = WhyNotAFile(path);
  if (code == StatusCode::kNotFound) return NotFound(path + ": cannot open spec file");
  if (code != StatusCode::kOk) {
    return InvalidArgument(path + ": " + why +
                           (why == "is a directory" ? ", expected a spec file" : ""));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open spec file");
  std::stringstream ss;
  ss << in.rdbuf();
  ExperimentSpec spec;
  std::vector<DataFileField> files;
  RETURN_IF_ERROR(ParseSpecText(ss.str(), path, overrides, &spec, &files));
  RETURN_IF_ERROR(ResolveDataFiles(path, files));
  RETURN_IF_ERROR(ResolveModelFiles(path, &spec.params));
  return spec;
}

Status Validate(const ExperimentSpec& spec) {
  if (!spec.objectives.empty() &&
      (spec.objectives.size() < 2 || spec.objectives.front().name != spec.metric.name ||
       spec.objectives.front().direction != spec.metric.direction)) {
    return InvalidArgument("metric: objectives must be two or more, the first being metric");
  }
  const std::vector<MetricSpec> all = Objectives(spec);
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string path = all.size() > 1 ? "metric[" + std::to_string(i) + "]" : "metric";
    const MetricRule* m = FindMetric(all[i].name);
    if (m == nullptr) {
      return InvalidArgument(path + ".name: expected one of " + MetricNames() + ", got '" +
                             all[i].name + "'");
    }
    if (Fits(*m, spec.task)) continue;
    std::string fitting;
    for (const MetricRule& other : kMetrics) {
      if (!Fits(other, spec.task)) continue;
      fitting += (fitting.empty() ? "" : ", ") + std::string(other.name);
    }
    return InvalidArgument(path + ".name: " + all[i].name + " does not fit task " +
                           std::string(EnumName(spec.task)) + " (use " + fitting + ")");
  }
  if (all.size() > 1 && spec.search.method == SearchMethod::kPbt) {
    return InvalidArgument("metric: pbt exploits by one metric; give one objective, or use "
                           "search.method asha, hyperband or tpe");
  }
  if (spec.search.method == SearchMethod::kGrid) {
    for (const Param& p : spec.params) {
      if (p.searched && p.dist.kind != Distribution::Kind::kChoice) {
        return InvalidArgument("params." + p.name + ": grid search needs 'choice' (got '" +
                               std::string(EnumName(p.dist.kind)) +
                               "'); use search.method: random");
      }
    }
    if (spec.search.num_models != 0) {
      return InvalidArgument("search.num_models: only used by random search");
    }
  } else if (spec.search.method == SearchMethod::kRandom && spec.search.num_models < 1) {
    return InvalidArgument("search.num_models: random search needs num_models >= 1");
  }
  if (!spec.run.ray_address.empty() && spec.run.backend != BackendKind::kRay) {
    return InvalidArgument("run.ray_address: only used with backend: ray");
  }
  if (spec.run.workers > 1024) return InvalidArgument("run.workers: at most 1024");
  if (spec.run.partitions > 1024) return InvalidArgument("run.partitions: at most 1024");
  if (spec.run.partitions != 0 && spec.run.strategy != Strategy::kMop) {
    return InvalidArgument("run.partitions: only used by strategy mop");
  }
  if (spec.run.partitions != 0 && spec.run.partitions < spec.run.workers) {
    return InvalidArgument("run.partitions: " + std::to_string(spec.run.partitions) +
                           " partitions cannot keep " + std::to_string(spec.run.workers) +
                           " workers busy (use partitions >= workers)");
  }
  if (spec.run.threads_per_worker > 256) {
    return InvalidArgument("run.threads_per_worker: at most 256");
  }
  return ValidateConditions(spec.params);
}

std::vector<MetricSpec> Objectives(const ExperimentSpec& spec) {
  return spec.objectives.empty() ? std::vector<MetricSpec>{spec.metric} : spec.objectives;
}

bool Applies(const Param& p, const Json& config) {
  for (const Condition& c : p.when) {
    auto it = config.find(c.param);
    if (it == config.end() || std::find(c.values.begin(), c.values.end(), *it) == c.values.end()) {
      return false;
    }
  }
  return true;
}

}  // namespace cerebro::spec

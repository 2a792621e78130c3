// ExperimentSpec: the typed, validated form of a user's spec file (YAML or JSON).
// Parsing is the edge where every user error is caught: the result is either a spec
// whose every field is in range, or a Status whose one-line message names the file
// and the field ("spec.yaml: run.workers: expected a positive integer, got 'two'").
// Value types; parsing is stateless and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebro/common/enum_names.h"
#include "cerebro/common/status.h"

namespace cerebro::spec {

using Json = nlohmann::ordered_json;

// A search-space distribution over one hyperparameter. Log forms take base-10
// *exponents*, as upstream Cerebro does: {loguniform: [-4, -2]} draws from
// [1e-4, 1e-2] uniformly in log space.
struct Distribution {
  enum class Kind { kChoice, kUniform, kQUniform, kLogUniform, kQLogUniform };
  Kind kind = Kind::kChoice;
  std::vector<Json> choices;  // kChoice: non-empty
  double low = 0, high = 0;   // the others: low < high (exponents for the log forms)
  double q = 0;               // the q-forms: > 0; values are round(x / q) * q
  bool integer = false;       // q-forms with integral q and bounds yield integers
};

// "Only when `param` is one of `values`": `param` is an earlier entry of `params` (file
// order, so conditions cannot form a cycle) that is a choice or a fixed value, and
// `values` are among its possible values.
struct Condition {
  std::string param;
  std::vector<Json> values;  // non-empty; any of them
};

// One entry of `params`: either a fixed value or a distribution to search over, present
// in a configuration only when all its conditions hold (`when`; empty: always).
struct Param {
  std::string name;
  bool searched = false;
  Json value;         // when !searched
  Distribution dist;  // when searched
  std::vector<Condition> when;
};

// Whether `p` exists in a configuration whose earlier params are `config` (a flat object):
// every condition's param is in it with one of the allowed values.
bool Applies(const Param& p, const Json& config);

struct DataSpec {
  std::string format = "idx";  // idx | csv | libsvm
  std::string train_path, train_labels_path;
  std::string val_path, val_labels_path;
  double val_fraction = 0.0;  // used when no validation file is given
  bool csv_header = true;
  std::string csv_label_column;  // name or 0-based index; "" = last
  char csv_delimiter = ',';
  int64_t libsvm_num_features = 0;
  double feature_scale = 1.0;
  // data: {store: DIR}: run from a store made by `cerebro prepare` (absolute once parsed
  // from a file); the fields above are then unused.
  std::string store;
};

// The spec's named settings. Their spellings (in spec files, spec.json, flags and
// summary.json) are the EnumNames tables at the end of this file, and only there.
enum class Task { kClassification, kRegression };
// grid and random generate every configuration up front; the others decide as the run
// goes (search/procedure.h), each reading its own knobs from SearchSpec::options.
enum class SearchMethod { kGrid, kRandom, kTpe, kAsha, kHyperband, kPbt };
// mop: models hop over one partition per worker; sequential: one worker, all the data,
// models one after another; task: every worker holds all the data and trains whole
// models; dp: the data-parallel baseline (all workers train one model, states averaged).
enum class Strategy { kMop, kSequential, kTask, kDataParallel };
// random: the scheduler's randomized greedy order; fixed: each model's partition order
// per epoch is derived from the seed, so results do not depend on timing.
enum class Order { kRandom, kFixed };
// When a model's state is made durable (fsync'd) before the journal names it: after every
// unit, or only at the end of each of its epochs (a state inside an epoch is then in the
// page cache: it survives a crash of any process, not a power loss; resume rolls a model
// whose such state is lost back to its epoch's start and redoes that epoch's units).
enum class CheckpointPolicy { kUnit, kEpoch };
enum class BackendKind { kLocal, kRay };
enum class Direction { kMaximize, kMinimize };

// What models are ranked by. accuracy and loss are the validation set's, train_accuracy
// and train_loss the training pass's (after each epoch). num_parameters is the model's
// trainable parameter count (constant per model); seconds_per_example its measured cost:
// the epoch's unit compute seconds (training and evaluation) over its training examples,
// which depends on the machine and its load, so a ranking by it is not reproducible.
// The direction follows from the name (a spec may repeat it, not change it).
struct MetricSpec {
  std::string name = "accuracy";
  Direction direction = Direction::kMaximize;
};

struct SearchSpec {
  SearchMethod method = SearchMethod::kGrid;
  int num_models = 0;  // random: number of configurations to sample
  // Every other key of the search section, for the adaptive methods: their procedure
  // validates them (one line naming "search.<key>") and owns their defaults. Always an
  // object; empty for grid and random, which refuse unknown keys.
  Json options = Json::object();
};

struct RunSpec {
  int epochs = 1;
  int workers = 2;     // units running at once (CPU slots). The parser sets it to 1 for
                       // strategy sequential, whatever the file or a flag said.
  int partitions = 0;  // mop: data partitions, one worker process each (0 = workers).
                       // More partitions than workers keeps results independent of the
                       // worker count: with order: fixed, 1 and 2 workers train alike.
  Strategy strategy = Strategy::kMop;
  Order order = Order::kRandom;
  uint64_t seed = 0;   // any value in [0, 2^64 - 1]
  int threads_per_worker = 1;
  int max_unit_retries = 2;  // re-runs of a unit whose worker died before a model fails
  int keep_best = 5;          // finished models whose final checkpoint is kept (best first);
                              // live models always keep their latest state
  bool keep_failed = false;   // keep the last checkpoint of failed models
  CheckpointPolicy checkpoint = CheckpointPolicy::kUnit;
  // A unit that runs far longer than expected hangs (its worker stopped answering): it is
  // declared lost, its worker replaced and the unit re-queued. The limit is
  // max(unit_timeout_min_seconds, unit_timeout_factor x the median time of the model's
  // finished units of that kind — or of the run's, for a model that has none yet), and
  // first_unit_timeout_seconds while no unit of that kind has finished at all.
  double unit_timeout_factor = 10;
  double unit_timeout_min_seconds = 60;
  double first_unit_timeout_seconds = 3600;
  BackendKind backend = BackendKind::kLocal;
  std::string ray_address;  // ray: HOST:PORT; "" = start a local head for the run
};

struct ExperimentSpec {
  std::string name;
  Task task = Task::kClassification;
  DataSpec data;
  std::vector<Param> params;  // in file order
  SearchSpec search;
  // `metric: accuracy` (or {name, direction}) ranks by one objective. A list of two or more
  // (`metric: [{name: accuracy}, {name: num_parameters}]`) ranks by Pareto dominance:
  // `objectives` holds them all in order, and `metric` is the first — the one that orders
  // models within a front, and what single-objective readers see. Empty for one objective.
  MetricSpec metric;
  std::vector<MetricSpec> objectives;
  RunSpec run;
  std::string source_file;  // where it was read from ("" for strings)
};

// A value given outside the spec file (a command-line flag), set in the parsed document
// before the spec is read from it, so it is checked once, by the same rules as the
// file's own values. `path` is the field ("run.workers"); `value` is typed as the flag
// reads it (an integer flag passes an integer when the text is one, else the text, which
// the field's rule then refuses). An error about that field names `name` instead of the
// file and the path: "--workers: expected a positive integer, got 'x'".
struct Override {
  std::string path;
  Json value;
  std::string name;
};
using Overrides = std::vector<Override>;

// Parses YAML (JSON is accepted: it is YAML). `source_name` prefixes error messages.
// Normalises what the file may leave loose: strategy sequential runs on one worker.
StatusOr<ExperimentSpec> ParseSpecString(const std::string& text, const std::string& source_name,
                                         const Overrides& overrides = {});
// Relative paths are resolved against the file's directory and made absolute: the data
// files (which must exist) and params.model_file (a model's TorchScript file or file
// template, fixed or each choice; checked when the model is built, not here).
StatusOr<ExperimentSpec> ParseSpecFile(const std::string& path, const Overrides& overrides = {});

// The objectives a run ranks by: spec.objectives, or {spec.metric} for one.
std::vector<MetricSpec> Objectives(const ExperimentSpec& spec);

// Checks cross-field rules (e.g. grid search needs only `choice`). The parser calls it;
// callers that build or edit a spec in code call it again.
Status Validate(const ExperimentSpec& spec);

// The spec as JSON, fully resolved (defaults filled in), for the experiment store.
// ParseSpecString(ToJson(s).dump()) reproduces s.
Json ToJson(const ExperimentSpec& spec);

}  // namespace cerebro::spec

namespace cerebro {

template <>
struct EnumNames<spec::Task> {
  static constexpr NamedValue<spec::Task> kTable[] = {
      {spec::Task::kClassification, "classification"}, {spec::Task::kRegression, "regression"}};
};

template <>
struct EnumNames<spec::SearchMethod> {
  static constexpr NamedValue<spec::SearchMethod> kTable[] = {
      {spec::SearchMethod::kGrid, "grid"},   {spec::SearchMethod::kRandom, "random"},
      {spec::SearchMethod::kTpe, "tpe"},     {spec::SearchMethod::kAsha, "asha"},
      {spec::SearchMethod::kHyperband, "hyperband"}, {spec::SearchMethod::kPbt, "pbt"}};
};

template <>
struct EnumNames<spec::Strategy> {
  static constexpr NamedValue<spec::Strategy> kTable[] = {
      {spec::Strategy::kMop, "mop"},
      {spec::Strategy::kSequential, "sequential"},
      {spec::Strategy::kTask, "task"},
      {spec::Strategy::kDataParallel, "dp"}};
};

template <>
struct EnumNames<spec::CheckpointPolicy> {
  static constexpr NamedValue<spec::CheckpointPolicy> kTable[] = {
      {spec::CheckpointPolicy::kUnit, "unit"}, {spec::CheckpointPolicy::kEpoch, "epoch"}};
};
template <>
struct EnumNames<spec::Order> {
  static constexpr NamedValue<spec::Order> kTable[] = {{spec::Order::kRandom, "random"},
                                                       {spec::Order::kFixed, "fixed"}};
};

template <>
struct EnumNames<spec::BackendKind> {
  static constexpr NamedValue<spec::BackendKind> kTable[] = {
      {spec::BackendKind::kLocal, "local"}, {spec::BackendKind::kRay, "ray"}};
};

template <>
struct EnumNames<spec::Direction> {
  static constexpr NamedValue<spec::Direction> kTable[] = {
      {spec::Direction::kMaximize, "max"}, {spec::Direction::kMinimize, "min"},
      {spec::Direction::kMaximize, "maximize"}, {spec::Direction::kMinimize, "minimize"}};
};

template <>
struct EnumNames<spec::Distribution::Kind> {
  using Kind = spec::Distribution::Kind;
  static constexpr NamedValue<Kind> kTable[] = {{Kind::kChoice, "choice"},
                                                {Kind::kUniform, "uniform"},
                                                {Kind::kQUniform, "quniform"},
                                                {Kind::kLogUniform, "loguniform"},
                                                {Kind::kQLogUniform, "qloguniform"}};
};

}  // namespace cerebro

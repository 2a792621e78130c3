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

const char* DistributionKindName(Distribution::Kind kind);

// One entry of `params`: either a fixed value or a distribution to search over.
struct Param {
  std::string name;
  bool searched = false;
  Json value;         // when !searched
  Distribution dist;  // when searched
};

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
};

enum class Direction { kMaximize, kMinimize };
const char* DirectionName(Direction d);  // "max" | "min"

struct MetricSpec {
  std::string name = "accuracy";  // accuracy | loss
  Direction direction = Direction::kMaximize;
};

struct SearchSpec {
  std::string method = "grid";  // grid | random
  int num_models = 0;           // random: number of configurations to sample
};

struct RunSpec {
  int epochs = 1;
  int workers = 2;     // units running at once (CPU slots)
  int partitions = 0;  // mop: data partitions, one worker process each (0 = workers).
                       // More partitions than workers keeps results independent of the
                       // worker count: with order: fixed, 1 and 2 workers train alike.
  std::string strategy = "mop";  // mop | sequential | task | dp (data-parallel baseline)
  std::string order = "random";  // random | fixed
  uint64_t seed = 0;
  int threads_per_worker = 1;
  int max_unit_retries = 2;  // re-runs of a unit whose worker died before a model fails
  int keep_best = 5;          // finished models whose final checkpoint is kept (best first);
                              // live models always keep their latest state
  bool keep_failed = false;   // keep the last checkpoint of failed models
  std::string backend = "local";  // local | ray
  std::string ray_address;        // ray: HOST:PORT; "" = start a local head for the run
};

struct ExperimentSpec {
  std::string name;
  std::string task = "classification";  // classification | regression
  DataSpec data;
  std::vector<Param> params;  // in file order
  SearchSpec search;
  MetricSpec metric;
  RunSpec run;
  std::string source_file;  // where it was read from ("" for strings)
};

// Parses YAML (JSON is accepted: it is YAML). `source_name` prefixes error messages.
StatusOr<ExperimentSpec> ParseSpecString(const std::string& text, const std::string& source_name);
StatusOr<ExperimentSpec> ParseSpecFile(const std::string& path);

// Checks cross-field rules (e.g. grid search needs only `choice`), after CLI overrides.
Status Validate(const ExperimentSpec& spec);

// The spec as JSON, fully resolved (defaults filled in), for the experiment store.
// ParseSpecString(ToJson(s).dump()) reproduces s.
Json ToJson(const ExperimentSpec& spec);

}  // namespace cerebro::spec

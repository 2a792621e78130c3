// ToJson: the resolved spec as spec.json holds it (every default filled in), the inverse
// of ParseSpecString. Kept apart from the parser: printing needs none of its machinery.
#include "cerebro/spec/spec.h"

namespace cerebro::spec {

namespace {
template <typename E>
std::string Name(E value) {
  return std::string(EnumName(value));
}
}  // namespace

Json ToJson(const ExperimentSpec& s) {
  Json j = Json::object();
  if (!s.name.empty()) j["name"] = s.name;
  j["task"] = Name(s.task);
  Json data = Json::object();
  data["format"] = s.data.format;
  auto files = [&](const std::string& path, const std::string& labels) {
    Json f = Json::object();
    if (s.data.format == "idx") {
      f["images"] = path;
      f["labels"] = labels;
    } else {
      f["path"] = path;
    }
    return f;
  };
  Json train = files(s.data.train_path, s.data.train_labels_path);
  if (s.data.format == "csv") {
    train["header"] = s.data.csv_header;
    if (!s.data.csv_label_column.empty()) train["label_column"] = s.data.csv_label_column;
    train["delimiter"] = std::string(1, s.data.csv_delimiter);
  }
  if (s.data.format == "libsvm" && s.data.libsvm_num_features > 0) {
    train["num_features"] = s.data.libsvm_num_features;
  }
  data["train"] = train;
  if (!s.data.val_path.empty()) {
    data["validation"] = files(s.data.val_path, s.data.val_labels_path);
  } else {
    data["validation"] = Json{{"fraction", s.data.val_fraction}};
  }
  data["feature_scale"] = s.data.feature_scale;
  j["data"] = data;
  // A prepared store stands for the whole source (ParseData refuses both).
  if (!s.data.store.empty()) j["data"] = Json{{"store", s.data.store}};
  Json params = Json::object();
  for (const Param& p : s.params) {
    Json when = Json::object();
    for (const Condition& c : p.when) when[c.param] = Json(c.values);  // always a list
    if (!p.searched) {
      params[p.name] = p.when.empty() ? p.value : Json{{"when", when}, {"value", p.value}};
      continue;
    }
    const Distribution& d = p.dist;
    Json args = Json::array();
    if (d.kind == Distribution::Kind::kChoice) {
      for (const auto& c : d.choices) args.push_back(c);
    } else {
      args.push_back(d.low);
      args.push_back(d.high);
      if (d.q > 0) args.push_back(d.q);
    }
    params[p.name] = Json{{Name(d.kind), args}};
    if (!p.when.empty()) params[p.name] = Json{{"when", when}, {Name(d.kind), args}};
  }
  j["params"] = params;
  j["search"] = Json{{"method", Name(s.search.method)}};
  if (s.search.num_models > 0) j["search"]["num_models"] = s.search.num_models;
  for (auto it = s.search.options.begin(); it != s.search.options.end(); ++it) {
    j["search"][it.key()] = it.value();
  }
  j["metric"] = Json{{"name", s.metric.name}, {"direction", Name(s.metric.direction)}};
  if (!s.objectives.empty()) {
    j["metric"] = Json::array();
    for (const MetricSpec& o : s.objectives) {
      j["metric"].push_back(Json{{"name", o.name}, {"direction", Name(o.direction)}});
    }
  }
  j["run"] = Json{{"epochs", s.run.epochs},
                  {"workers", s.run.workers},
                  {"strategy", Name(s.run.strategy)},
                  {"order", Name(s.run.order)},
                  {"seed", s.run.seed},
                  {"partitions", s.run.partitions},
                  {"threads_per_worker", s.run.threads_per_worker},
                  {"max_unit_retries", s.run.max_unit_retries},
                  {"keep_best", s.run.keep_best},
                  {"keep_failed", s.run.keep_failed},
                  {"unit_timeout_factor", s.run.unit_timeout_factor},
                  {"unit_timeout_min_seconds", s.run.unit_timeout_min_seconds},
                  {"first_unit_timeout_seconds", s.run.first_unit_timeout_seconds},
                  {"backend", Name(s.run.backend)}};
  if (!s.run.ray_address.empty()) j["run"]["ray_address"] = s.run.ray_address;
  // Written only when not the default, so specs of runs that do not use it read as before.
  if (s.run.checkpoint != CheckpointPolicy::kUnit) j["run"]["checkpoint"] = Name(s.run.checkpoint);
  return j;
}

}  // namespace cerebro::spec

#include "cerebro/store/summary.h"

#include "cerebro/store/json_fields.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace cerebro::store {
namespace {

constexpr const char* kFile = "summary.json";

// `examples`: a multi-objective summary also keeps each row's training examples, so a
// reader can tell seconds_per_example (seconds / train_examples) from it.
Json HistoryJson(const std::vector<EpochRow>& rows, bool examples) {
  Json h = Json::array();
  for (const auto& r : rows) {
    h.push_back({{"epoch", r.epoch},
                 {"train_loss", r.train_loss},
                 {"train_accuracy", r.train_accuracy},
                 {"val_loss", r.val_loss},
                 {"val_accuracy", r.val_accuracy},
                 {"seconds", r.seconds}});
    if (examples) h.back()["train_examples"] = r.train_examples;
  }
  return h;
}

Json ModelJson(const ModelOutcome& m, bool multi_objective) {
  Json j = {{"id", m.id},
            {"rank", m.rank},
            {"params", m.params},
            {"status", std::string(EnumName(m.status))}};
  if (!m.failure.empty()) j["failure"] = m.failure;
  j["train_units"] = m.train_units;
  j["eval_units"] = m.eval_units;
  j["history"] = HistoryJson(m.history, multi_objective);
  j["checkpoint"] = m.checkpoint.empty() ? Json(nullptr) : Json(m.checkpoint);
  j["origin"] = std::string(EnumName(m.origin));
  if (m.parent >= 0) j["parent"] = m.parent;
  if (m.num_parameters > 0) j["num_parameters"] = m.num_parameters;
  return j;
}

StatusOr<EpochRow> ParseEpochRow(const JsonFields& f, int model_id) {
  EpochRow r;
  r.model_id = model_id;
  RETURN_IF_ERROR(f.Int("epoch", &r.epoch));
  RETURN_IF_ERROR(f.DoubleOrNull("train_loss", &r.train_loss));
  RETURN_IF_ERROR(f.DoubleOrNull("train_accuracy", &r.train_accuracy));
  RETURN_IF_ERROR(f.DoubleOrNull("val_loss", &r.val_loss));
  RETURN_IF_ERROR(f.DoubleOrNull("val_accuracy", &r.val_accuracy));
  RETURN_IF_ERROR(f.DoubleOrNull("seconds", &r.seconds));
  if (f.Find("train_examples") != nullptr) RETURN_IF_ERROR(f.Int64("train_examples", &r.train_examples));
  return r;
}

StatusOr<ModelOutcome> ParseModel(const JsonFields& f) {
  ModelOutcome m;
  RETURN_IF_ERROR(f.Int("id", &m.id));
  RETURN_IF_ERROR(f.Int("rank", &m.rank));
  const Json* params = f.Find("params");
  if (params == nullptr || !params->is_object()) return f.Expected("params", "an object");
  m.params = *params;
  RETURN_IF_ERROR(f.Enum("status", &m.status));
  RETURN_IF_ERROR(f.String("failure", &m.failure, /*optional=*/true));
  RETURN_IF_ERROR(f.Int("train_units", &m.train_units));
  RETURN_IF_ERROR(f.Int("eval_units", &m.eval_units));
  ASSIGN_OR_RETURN(const Json* history, f.Array("history"));
  for (size_t i = 0; i < history->size(); ++i) {
    ASSIGN_OR_RETURN(JsonFields row, f.Element("history", *history, i));
    ASSIGN_OR_RETURN(EpochRow r, ParseEpochRow(row, m.id));
    m.history.push_back(std::move(r));
  }
  RETURN_IF_ERROR(f.StringOrNull("checkpoint", &m.checkpoint));
  // Summaries written before models had an origin are all from the search.
  RETURN_IF_ERROR(f.Enum("origin", &m.origin, /*optional=*/true));
  if (f.Find("parent") != nullptr) RETURN_IF_ERROR(f.Int("parent", &m.parent));
  if (f.Find("num_parameters") != nullptr) {
    RETURN_IF_ERROR(f.Int64("num_parameters", &m.num_parameters));
  }
  return m;
}

Status ParseTiming(const JsonFields& f, RunTiming* t) {
  RETURN_IF_ERROR(f.Double("wall_seconds", &t->wall_seconds));
  RETURN_IF_ERROR(f.Double("prepare_seconds", &t->prepare_seconds));
  RETURN_IF_ERROR(f.Double("compute_seconds", &t->compute_seconds));
  RETURN_IF_ERROR(f.Double("transfer_seconds", &t->transfer_seconds));
  RETURN_IF_ERROR(f.Double("state_codec_seconds", &t->state_codec_seconds));
  RETURN_IF_ERROR(f.Double("checkpoint_seconds", &t->checkpoint_seconds));
  RETURN_IF_ERROR(f.Double("integrity_seconds", &t->integrity_seconds, /*optional=*/true));
  RETURN_IF_ERROR(f.Double("observer_seconds", &t->observer_seconds, /*optional=*/true));
  RETURN_IF_ERROR(f.Int64("train_examples", &t->train_examples));
  double derived = 0;  // train_examples / wall_seconds: written for readers, not kept
  RETURN_IF_ERROR(f.Double("train_samples_per_second", &derived));
  return f.Uint64("state_bytes_moved", &t->state_bytes_moved);
}

// "objectives" and "pareto_front", present only in multi-objective summaries.
Status ParseObjectives(const JsonFields& f, Summary* s) {
  if (f.Find("objectives") == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(const Json* objectives, f.Array("objectives"));
  for (size_t i = 0; i < objectives->size(); ++i) {
    ASSIGN_OR_RETURN(JsonFields o, f.Element("objectives", *objectives, i));
    spec::MetricSpec m;
    RETURN_IF_ERROR(o.String("name", &m.name));
    RETURN_IF_ERROR(o.Enum("direction", &m.direction));
    s->objectives.push_back(m);
  }
  ASSIGN_OR_RETURN(const Json* front, f.Array("pareto_front"));
  for (const Json& id : *front) {
    if (!id.is_number_integer()) return f.Expected("pareto_front", "an array of model ids");
    s->pareto_front.push_back(id.get<int>());
  }
  return Status::Ok();
}

Status ParseRoot(const JsonFields& f, Summary* s) {
  RETURN_IF_ERROR(f.String("name", &s->name, /*optional=*/true));
  RETURN_IF_ERROR(f.String("metric", &s->metric));
  RETURN_IF_ERROR(f.Enum("direction", &s->direction));
  RETURN_IF_ERROR(ParseObjectives(f, s));
  const Json* best = f.Find("best");
  if (best == nullptr || !(best->is_object() || best->is_null())) {
    return f.Expected("best", "an object or null");
  }
  if (best->is_object()) {
    ASSIGN_OR_RETURN(JsonFields b, f.Object("best"));
    RETURN_IF_ERROR(b.Int("model_id", &s->best_model));
    std::string metric;
    RETURN_IF_ERROR(b.String("metric", &metric));
    spec::Direction direction;
    RETURN_IF_ERROR(b.Enum("direction", &direction));
    RETURN_IF_ERROR(b.Double("value", &s->best_value));
  }
  RETURN_IF_ERROR(f.EnumText<spec::Strategy>("strategy", &s->strategy));
  RETURN_IF_ERROR(f.EnumText<spec::BackendKind>("backend", &s->backend));
  RETURN_IF_ERROR(f.Int("workers", &s->workers));
  RETURN_IF_ERROR(f.Int("partitions", &s->partitions));
  RETURN_IF_ERROR(f.Int("epochs", &s->epochs));
  RETURN_IF_ERROR(f.Uint64("seed", &s->seed));
  RETURN_IF_ERROR(f.EnumText<spec::Order>("order", &s->order));
  ASSIGN_OR_RETURN(JsonFields timing, f.Object("timing"));
  RETURN_IF_ERROR(ParseTiming(timing, &s->timing));
  RETURN_IF_ERROR(f.Uint64("checkpoint_bytes", &s->timing.checkpoint_bytes));
  RETURN_IF_ERROR(f.Bool("finished", &s->finished, /*optional=*/true));
  ASSIGN_OR_RETURN(const Json* models, f.Array("models"));
  for (size_t i = 0; i < models->size(); ++i) {
    ASSIGN_OR_RETURN(JsonFields m, f.Element("models", *models, i));
    ASSIGN_OR_RETURN(ModelOutcome outcome, ParseModel(m));
    s->models.push_back(std::move(outcome));
  }
  return Status::Ok();
}

}  // namespace

double MetricValue(const ModelOutcome& m, const EpochRow& r, const std::string& metric) {
  if (metric == "accuracy") return r.val_accuracy;
  if (metric == "loss") return r.val_loss;
  if (metric == "train_accuracy") return r.train_accuracy;
  if (metric == "train_loss") return r.train_loss;
  if (metric == "num_parameters") return static_cast<double>(m.num_parameters);
  return r.train_examples > 0 ? r.seconds / static_cast<double>(r.train_examples) : 0;
}

Json SummaryToJson(const Summary& s) {
  Json models = Json::array();
  for (const auto& m : s.models) models.push_back(ModelJson(m, !s.objectives.empty()));
  const std::string direction(EnumName(s.direction));
  Json j = Json::object();
  if (!s.name.empty()) j["name"] = s.name;
  j["metric"] = s.metric;
  j["direction"] = direction;
  if (!s.objectives.empty()) {
    j["objectives"] = Json::array();
    for (const spec::MetricSpec& o : s.objectives) {
      j["objectives"].push_back({{"name", o.name}, {"direction", std::string(EnumName(o.direction))}});
    }
    j["pareto_front"] = s.pareto_front;
  }
  if (s.best_model >= 0) {
    j["best"] = {{"model_id", s.best_model},
                 {"metric", s.metric},
                 {"direction", direction},
                 {"value", s.best_value}};
  } else {
    j["best"] = nullptr;
  }
  j["strategy"] = s.strategy;
  j["backend"] = s.backend;
  j["workers"] = s.workers;
  j["partitions"] = s.partitions;
  j["epochs"] = s.epochs;
  j["seed"] = s.seed;
  j["order"] = s.order;
  const RunTiming& t = s.timing;
  j["timing"] = {{"wall_seconds", t.wall_seconds},
                 {"prepare_seconds", t.prepare_seconds},
                 {"compute_seconds", t.compute_seconds},
                 {"transfer_seconds", t.transfer_seconds},
                 {"state_codec_seconds", t.state_codec_seconds},
                 {"checkpoint_seconds", t.checkpoint_seconds},
                 {"integrity_seconds", t.integrity_seconds},
                 {"observer_seconds", t.observer_seconds},
                 {"train_examples", t.train_examples},
                 {"train_samples_per_second",
                  t.wall_seconds > 0 ? t.train_examples / t.wall_seconds : 0.0},
                 {"state_bytes_moved", t.state_bytes_moved}};
  j["checkpoint_bytes"] = t.checkpoint_bytes;
  j["finished"] = s.finished;
  j["models"] = std::move(models);
  return j;
}

StatusOr<Summary> ParseSummary(const std::string& text, const std::string& source) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    // e.what() spans the parser's whole context; the byte offset is what helps.
    std::string where;
    if (const auto* pe = dynamic_cast<const Json::parse_error*>(&e)) {
      where = " at byte " + std::to_string(pe->byte);
    }
    return DataLoss(source + ": not valid JSON" + where + " (truncated or corrupt)");
  }
  if (!j.is_object()) return DataLoss(source + ": expected an object");
  Summary s;
  RETURN_IF_ERROR(ParseRoot(JsonFields(j, "", source), &s));
  return s;
}

StatusOr<Summary> ReadSummary(FileSystem* fs, const std::string& run_dir) {
  const std::string path = JoinPath(run_dir, kFile);
  if (!fs->Exists(path)) return NotFound(path + ": no summary (is the run finished?)");
  ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  return ParseSummary(text, path);
}

}  // namespace cerebro::store

#include "cerebro/cli/export.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "cerebro/cli/outcome.h"
#include "cerebro/common/rng.h"
#include "cerebro/driver/ranking.h"
#include "cerebro/driver/run_directory.h"
#include "cerebro/driver/run_status.h"

namespace cerebro::cli {
namespace {

// A model whose state export can use: it finished (completed, or stopped by its
// procedure or the user) after at least one epoch, and the run kept its final state.
Status Exportable(const store::ModelOutcome& m) {
  const std::string model = "model " + std::to_string(m.id);
  if (m.status != ModelStatus::kCompleted && m.status != ModelStatus::kStopped) {
    return InvalidArgument(model + " has not finished (" + std::string(EnumName(m.status)) + ")");
  }
  if (m.history.empty()) return InvalidArgument(model + " finished no epoch");
  if (m.checkpoint.empty()) {
    return InvalidArgument(model + ": the run did not keep its state (run.keep_best keeps the "
                           "best models' only)");
  }
  return Status::Ok();
}

StatusOr<const store::ModelOutcome*> ChooseModel(const driver::RunStatus& s,
                                                 const std::string& run_dir,
                                                 const std::string& model_flag) {
  if (model_flag.empty()) {
    for (const store::ModelOutcome& m : s.models) {  // ranked: the first exportable one
      if (Exportable(m).ok()) return &m;
    }
    return InvalidArgument(run_dir + ": no finished model (none completed an epoch with its "
                           "state kept)");
  }
  size_t used = 0;
  int id = -1;
  try {
    id = std::stoi(model_flag, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != model_flag.size() || id < 0) {
    return InvalidArgument("--model: expected a model id, not '" + model_flag + "'");
  }
  for (const store::ModelOutcome& m : s.models) {
    if (m.id != id) continue;
    RETURN_IF_ERROR(Exportable(m));
    return &m;
  }
  return InvalidArgument("--model: " + run_dir + " has no model " + model_flag + " (it has " +
                         std::to_string(s.models.size()) + " model" +
                         (s.models.size() == 1 ? "" : "s") + ")");
}

// The size and hash the journal recorded for `checkpoint` of model `id` (size 0: not
// recorded, a first-release journal).
StatusOr<std::pair<uint64_t, uint64_t>> RecordedState(store::ExperimentStore& store, int id,
                                                      const std::string& checkpoint) {
  ASSIGN_OR_RETURN(store::JournalContents journal, store.journal().ReadOnly());
  std::pair<uint64_t, uint64_t> recorded{0, 0};
  for (const store::Record& record : journal.records) {
    const auto* u = std::get_if<store::UnitDone>(&record);
    if (u != nullptr && u->model == id && u->checkpoint == checkpoint) {
      recorded = {u->state_size, u->state_hash};
    }
  }
  return recorded;
}

// How the run's store was made, from its meta.json "source" (data/partition_store.h),
// which a run from a prepared store (data: {store: DIR}) has too; missing fields keep
// SourceSpec's defaults.
StatusOr<data::SourceSpec> SourceOf(FileSystem* fs, const std::string& data_dir) {
  const std::string path = JoinPath(data_dir, "meta.json");
  ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  nlohmann::json meta = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  data::SourceSpec s;
  if (!meta.is_object() || !meta.contains("source") || !meta["source"].is_object()) {
    return DataLoss(path + ": no \"source\" object");
  }
  const nlohmann::json& j = meta["source"];
  try {
    s.format = j.value("format", s.format);
    s.csv_header = j.value("csv_header", s.csv_header);
    s.csv_label_column = j.value("csv_label_column", s.csv_label_column);
    const std::string delimiter = j.value("csv_delimiter", std::string(1, s.csv_delimiter));
    if (delimiter.size() == 1) s.csv_delimiter = delimiter[0];
    s.libsvm_num_features = j.value("libsvm_num_features", s.libsvm_num_features);
    s.feature_scale = j.value("feature_scale", s.feature_scale);
    s.task = j.value("task", std::string("classification")) == "regression"
                 ? data::Task::kRegression
                 : data::Task::kClassification;
  } catch (const nlohmann::json::exception& e) {
    return DataLoss(path + ": source: " + e.what());
  }
  return s;
}

// What the exported file records about its model (the extra file "cerebro.json").
std::string Metadata(const RunModel& m, double scale) {
  nlohmann::ordered_json j;
  j["format"] = "cerebro-torchscript-1";
  j["run_dir"] = m.run_dir;
  j["model_id"] = m.outcome.id;
  j["family"] = m.outcome.params.value("model", "");
  j["params"] = nlohmann::ordered_json::parse(m.config_json);
  j["task"] = m.data.task == data::Task::kRegression ? "regression" : "classification";
  j["feature_shape"] = m.data.feature_shape;
  j["num_classes"] = m.data.num_classes;
  j["input_scale"] = scale;
  j["input"] = "raw feature values as the source file holds them, shape [N, *feature_shape] "
               "or [N, prod(feature_shape)]; forward multiplies them by input_scale";
  j["output"] = m.data.task == data::Task::kRegression ? "[N, 1] predictions"
                                                       : "[N, num_classes] logits";
  j["metric"] = m.metric;
  j["metric_value"] = m.metric_value;
  j["epochs"] = m.outcome.history.size();
  return j.dump(2);
}

}  // namespace

train::TrainedModel RunModel::Trained() const {
  train::TrainedModel t;
  t.model_config_json = config_json;
  t.feature_shape = data.feature_shape;
  t.num_outputs = data.task == data::Task::kClassification ? data.num_classes : 1;
  t.state = reinterpret_cast<const uint8_t*>(state.data());
  t.state_size = state.size();
  return t;
}

StatusOr<RunModel> OpenRunModel(const std::string& run_dir, const std::string& model_flag) {
  FileSystem* fs = &RealFileSystem();
  ASSIGN_OR_RETURN(driver::RunStatus status, driver::ReadRunStatus(run_dir, fs));
  ASSIGN_OR_RETURN(const store::ModelOutcome* chosen, ChooseModel(status, run_dir, model_flag));
  ASSIGN_OR_RETURN(driver::OpenedRun run,
                   driver::OpenRun(run_dir, fs, store::ExperimentStore::Lock::kNone));
  RunModel m;
  m.run_dir = run.store->dir();
  m.outcome = *chosen;
  m.config_json = chosen->params.dump();
  m.metric = status.metric;
  m.metric_value = driver::MetricOf(chosen->history.back(), status.metric);
  ASSIGN_OR_RETURN(m.data, data::ReadStoreMeta(run.store->DataDir()));
  ASSIGN_OR_RETURN(m.source, SourceOf(fs, run.store->DataDir()));

  const std::string path = run.store->Path(chosen->checkpoint);
  auto bytes = run.store->ReadFile(chosen->checkpoint);
  if (!bytes.ok()) return DataLoss("model " + std::to_string(chosen->id) + ": " +
                                   bytes.status().message());
  ASSIGN_OR_RETURN(auto recorded, RecordedState(*run.store, chosen->id, chosen->checkpoint));
  // As resume checks it (driver/run_loop.cc): an empty file is never a state.
  if (bytes->empty() || (recorded.first != 0 && (bytes->size() != recorded.first ||
                                                 Hash64(bytes->data(), bytes->size()) !=
                                                     recorded.second))) {
    return DataLoss(path + ": " + std::to_string(bytes->size()) +
                    " bytes that do not match the journal (" + std::to_string(recorded.first) +
                    " bytes, hash " + std::to_string(recorded.second) + ")");
  }
  m.state = std::move(bytes).value();
  return m;
}

int CmdExport(const CommandLine& line) {
  if (line.positional.size() != 1) return Fail(InvalidArgument("export: expected one RUN_DIR"));
  if (!line.Has("--out")) return Fail(InvalidArgument("--out: export needs an output file"));
  auto m = OpenRunModel(line.positional[0], line.Value("--model"));
  if (!m.ok()) return Fail(m.status());
  // Bytes features are decoded with the store's own scale; float stores hold values the
  // reader already scaled with the source's.
  const double scale = m->data.encoding == data::FeatureEncoding::kUint8 ? m->data.feature_scale
                                                                         : m->source.feature_scale;
  auto file = train::ExportTorchScriptFile(m->Trained(), scale, Metadata(*m, scale));
  if (!file.ok()) return Fail(file.status());
  const std::string out = line.Value("--out");
  if (Status st = RealFileSystem().WriteFileAtomic(out, *file); !st.ok()) return Fail(st);
  std::printf("exported model %d (val %s %.4f after %zu epoch%s) to %s\n", m->outcome.id,
              m->metric.c_str(), m->metric_value, m->outcome.history.size(),
              m->outcome.history.size() == 1 ? "" : "s", out.c_str());
  return 0;
}

}  // namespace cerebro::cli

#include "cerebro/driver/tensorboard_observer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/common/file_system.h"
#include "cerebro/common/logging.h"
#include "cerebro/model/config_defaults.h"

namespace cerebro::driver {
namespace tb = store::tensorboard;
namespace {

// A model's params as the hparams plugin holds them: numbers, strings and bools as they
// are, anything else (a list of layer widths) as its JSON text.
tb::HParamValue ToHParam(const spec::Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

bool IsFinal(ModelStatus s) {
  return s == ModelStatus::kCompleted || s == ModelStatus::kStopped || s == ModelStatus::kFailed;
}

// Stopped models were stopped by a decision (early stopping), which is a normal end.
tb::SessionStatus SessionStatusOf(ModelStatus s) {
  switch (s) {
    case ModelStatus::kCompleted:
    case ModelStatus::kStopped:
      return tb::SessionStatus::kSuccess;
    case ModelStatus::kFailed:
      return tb::SessionStatus::kFailure;
    case ModelStatus::kRunning:
      return tb::SessionStatus::kRunning;
    case ModelStatus::kPending:
      break;
  }
  return tb::SessionStatus::kUnknown;
}

std::string ModelRunName(ModelId id) {
  char name[32];
  std::snprintf(name, sizeof name, "model_%04d", id);
  return name;
}

bool HasEventFile(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) return true;
  }
  return false;
}

// Hyperparameter infos from every model's params: the values seen, as a discrete domain
// (a grid's few values are what the plugin's filters should offer), or as an interval for
// numbers with many distinct values (random search).
std::vector<tb::HParamInfo> HParamInfos(const RunState& state) {
  std::map<std::string, std::vector<spec::Json>> values;  // distinct, by name
  for (const auto& [id, m] : state.models()) {
    if (!m.outcome.params.is_object()) continue;
    for (const auto& [key, v] : m.outcome.params.items()) {
      std::vector<spec::Json>& seen = values[key];
      if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
    }
  }
  constexpr size_t kMaxDiscreteNumbers = 10;
  std::vector<tb::HParamInfo> infos;
  for (auto& [name, seen] : values) {
    std::sort(seen.begin(), seen.end());
    tb::HParamInfo info;
    info.name = name;
    const spec::Json& first = seen.front();
    info.type = first.is_boolean()  ? tb::HParamType::kBool
                : first.is_number() ? tb::HParamType::kFloat64
                                    : tb::HParamType::kString;
    if (info.type == tb::HParamType::kFloat64 && seen.size() > kMaxDiscreteNumbers &&
        seen.back().is_number()) {
      info.has_interval = true;
      info.min_value = first.get<double>();
      info.max_value = seen.back().get<double>();
    } else {
      for (const spec::Json& v : seen) info.domain_discrete.push_back(ToHParam(v));
    }
    infos.push_back(std::move(info));
  }
  return infos;
}

std::vector<tb::MetricInfo> MetricInfos() {
  return {{"val/accuracy", "validation accuracy", tb::DatasetType::kValidation},
          {"val/loss", "validation loss", tb::DatasetType::kValidation},
          {"train/accuracy", "training accuracy", tb::DatasetType::kTraining},
          {"train/loss", "training loss", tb::DatasetType::kTraining}};
}

// The learning rate a model trains with: its config's "lr", else the trainer's default.
// A model keeps its params for life (a PBT exploit or a clone is a new model), so this is
// the rate of every epoch of the model.
double LearningRateOf(const spec::Json& params) {
  if (params.is_object()) {
    auto it = params.find("lr");
    if (it != params.end() && it->is_number()) return it->get<double>();
  }
  return model::kDefaultLearningRate;
}

// One finished epoch's scalars, at step = epoch (1-based, as in metrics.csv).
std::vector<std::string> EpochScalars(const store::EpochRow& row, double learning_rate,
                                      double now) {
  const int64_t step = row.epoch;
  std::vector<std::string> events = {
      tb::ScalarEvent(now, step, "train/loss", static_cast<float>(row.train_loss)),
      tb::ScalarEvent(now, step, "train/accuracy", static_cast<float>(row.train_accuracy)),
      tb::ScalarEvent(now, step, "val/loss", static_cast<float>(row.val_loss)),
      tb::ScalarEvent(now, step, "val/accuracy", static_cast<float>(row.val_accuracy)),
      tb::ScalarEvent(now, step, "unit_seconds", static_cast<float>(row.seconds)),
      tb::ScalarEvent(now, step, "learning_rate", static_cast<float>(learning_rate))};
  if (row.seconds > 0) {
    const double examples = static_cast<double>(row.train_examples + row.val_examples);
    events.push_back(tb::ScalarEvent(now, step, "examples_per_second",
                                     static_cast<float>(examples / row.seconds)));
  }
  return events;
}

}  // namespace

Status TensorBoardObserver::OnStarted(const RunView& run) {
  ScopedSeconds timed(&seconds_);
  return Started(run);
}

Status TensorBoardObserver::Started(const RunView& run) {
  if (run.run_dir.empty()) return Status::Ok();
  root_ = JoinPath(run.run_dir, "tensorboard");
  // The experiment summary is written once per run directory: a resumed run's root
  // already has it (and TensorBoard would keep only that first one anyway).
  if (!HasEventFile(root_)) {
    ASSIGN_OR_RETURN(auto writer, tb::EventFileWriter::Create(root_, WallSeconds()));
    RETURN_IF_ERROR(
        writer->Write({tb::ExperimentEvent(WallSeconds(), HParamInfos(run.state), MetricInfos())}));
  }
  // A resumed run's models continue in new runs, rebuilt from the replayed history.
  for (const auto& [id, m] : run.state.models()) {
    if (m.outcome.history.empty() && !IsFinal(m.outcome.status)) continue;  // not begun
    ASSIGN_OR_RETURN(ModelRun * r, Run(run, id));
    const double lr = LearningRateOf(m.outcome.params);
    for (const store::EpochRow& row : m.outcome.history) {
      RETURN_IF_ERROR(r->writer->Write(EpochScalars(row, lr, WallSeconds())));
    }
    RETURN_IF_ERROR(EndIfFinal(run, id, r));
  }
  return Status::Ok();
}

Status TensorBoardObserver::OnEpochDone(const RunView& run, const store::EpochRow& row) {
  ScopedSeconds timed(&seconds_);
  if (root_.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(ModelRun * r, Run(run, row.model_id));
  const double lr = LearningRateOf(run.state.model(row.model_id).outcome.params);
  return r->writer->Write(EpochScalars(row, lr, WallSeconds()));
}

Status TensorBoardObserver::OnModelStatus(const RunView& run, ModelId id) {
  ScopedSeconds timed(&seconds_);
  if (root_.empty() || !IsFinal(run.state.model(id).outcome.status)) return Status::Ok();
  ASSIGN_OR_RETURN(ModelRun * r, Run(run, id));
  return EndIfFinal(run, id, r);
}

Status TensorBoardObserver::OnFinished(const RunView& run, const Status&, const store::Summary&) {
  if (GetLogLevel() <= LogLevel::kDebug && run.timing.wall_seconds > 0) {
    Log(LogLevel::kDebug, "tensorboard: " + std::to_string(seconds_) + " s of " +
                              std::to_string(run.timing.wall_seconds) + " s wall");
  }
  return Status::Ok();
}

StatusOr<TensorBoardObserver::ModelRun*> TensorBoardObserver::Run(const RunView& run, ModelId id) {
  auto it = runs_.find(id);
  if (it != runs_.end()) return &it->second;
  // The first free name: model_NNNN, or model_NNNN.resumeK when an earlier process
  // already wrote that model's run.
  const std::string base = ModelRunName(id);
  std::string name = base;
  for (int k = 1; std::filesystem::exists(JoinPath(root_, name)); ++k) {
    name = base + ".resume" + std::to_string(k);
  }
  const double now = WallSeconds();
  ASSIGN_OR_RETURN(auto writer, tb::EventFileWriter::Create(JoinPath(root_, name), now));
  std::map<std::string, tb::HParamValue> hparams;
  const spec::Json& params = run.state.model(id).outcome.params;
  if (params.is_object()) {
    for (const auto& [key, v] : params.items()) hparams[key] = ToHParam(v);
  }
  RETURN_IF_ERROR(writer->Write({tb::SessionStartEvent(now, hparams, base, now)}));
  ModelRun& r = runs_[id];
  r.writer = std::move(writer);
  return &r;
}

Status TensorBoardObserver::EndIfFinal(const RunView& run, ModelId id, ModelRun* m) {
  const ModelStatus status = run.state.model(id).outcome.status;
  if (m->ended || !IsFinal(status)) return Status::Ok();
  m->ended = true;
  const double now = WallSeconds();
  return m->writer->Write({tb::SessionEndEvent(now, SessionStatusOf(status), now)});
}

}  // namespace cerebro::driver

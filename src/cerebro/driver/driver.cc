#include "cerebro/driver/driver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "cerebro/common/logging.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/exec/backend_factory.h"
#include "cerebro/sched/hopper.h"
#include "cerebro/search/space.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::driver {
namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// How a strategy lays data out: number of partitions and which one each worker holds.
struct Layout {
  int partitions = 1;
  std::vector<int> worker_partition;
  sched::Policy policy = sched::Policy::kRandomGreedy;
};

Layout LayoutFor(const spec::RunSpec& run) {
  Layout l;
  if (run.strategy == "mop") {
    // One partition per worker; models hop.
    l.partitions = run.workers;
    for (int w = 0; w < run.workers; ++w) l.worker_partition.push_back(w);
  } else if (run.strategy == "sequential") {
    // One worker, all the data, models one after another.
    l.partitions = 1;
    l.worker_partition = {0};
    l.policy = sched::Policy::kLowestIdFirst;
  } else {  // task: every worker holds a full copy and trains whole models
    l.partitions = 1;
    l.worker_partition.assign(static_cast<size_t>(run.workers), 0);
    l.policy = sched::Policy::kLowestIdFirst;
  }
  return l;
}

// Per-(model, epoch) accumulation. Metrics are summed in partition order so that the
// result does not depend on which unit finished first (bitwise reproducible).
struct EpochAccumulator {
  struct Part {
    double loss_sum = 0, correct = 0, compute = 0;
    int64_t n = 0;
    int worker = -1;
    int seq = -1;  // position in the realized training order
  };
  std::vector<Part> train, eval;
  int next_seq = 0;
};

struct ModelRun {
  ModelOutcome outcome;
  std::string config_json;
  std::shared_ptr<const std::string> state;
  std::map<int, EpochAccumulator> epochs;
  int failures = 0;  // worker losses while running this model's units
  bool failed = false;
};

bool Better(double a, double b, spec::Direction d) {
  return d == spec::Direction::kMaximize ? a > b : a < b;
}

double MetricOf(const store::EpochRow& r, const std::string& metric) {
  return metric == "accuracy" ? r.val_accuracy : r.val_loss;
}

Json HistoryJson(const std::vector<store::EpochRow>& rows) {
  Json h = Json::array();
  for (const auto& r : rows) {
    h.push_back({{"epoch", r.epoch},
                 {"train_loss", r.train_loss},
                 {"train_accuracy", r.train_accuracy},
                 {"val_loss", r.val_loss},
                 {"val_accuracy", r.val_accuracy},
                 {"seconds", r.seconds}});
  }
  return h;
}

class Runner {
 public:
  Runner(const spec::ExperimentSpec& spec, const RunOptions& options)
      : spec_(spec), options_(options),
        fs_(options.fs != nullptr ? options.fs : &RealFileSystem()) {}

  StatusOr<RunResult> Run();

 private:
  Status Setup();
  Status Loop();
  Status Dispatch(int worker);
  Status Handle(exec::Completion c);
  Status FinishEpoch(ModelRun& m, int epoch);
  void FailModel(ModelRun& m, const std::string& why);
  void ReportProgress();
  RunResult BuildResult();
  Status WriteSummary(const RunResult& r);

  const spec::ExperimentSpec& spec_;
  const RunOptions& options_;
  FileSystem* fs_;
  Layout layout_;
  std::vector<ModelRun> models_;
  std::unique_ptr<store::ExperimentStore> store_;
  std::unique_ptr<exec::Backend> backend_;
  std::unique_ptr<sched::Hopper> hopper_;
  std::vector<bool> worker_dead_;
  int in_flight_ = 0;
  int64_t units_total_ = 0;
  double start_ = 0;
  RunTiming timing_;
  int best_model_ = -1;
  double best_value_ = 0;
  int64_t last_report_decile_ = -1;
};

Status Runner::Setup() {
  double t0 = Now();
  ASSIGN_OR_RETURN(auto configs, search::GenerateConfigs(spec_));
  // Every configuration must be trainable before anything is written.
  for (const auto& c : configs) {
    std::string json = c.params.dump();
    char err[512] = {0};
    if (cerebro_validate_model_config(json.c_str(), err, sizeof(err)) != CEREBRO_OK) {
      std::string where = spec_.source_file.empty() ? "spec" : spec_.source_file;
      return InvalidArgument(where + ": " + err +
                             (configs.size() > 1 ? " (model " + std::to_string(c.id) + ": " +
                                                       json + ")"
                                                 : ""));
    }
    ModelRun m;
    m.outcome.id = c.id;
    m.outcome.params = c.params;
    m.outcome.status = "completed";
    m.config_json = std::move(json);
    models_.push_back(std::move(m));
  }
  layout_ = LayoutFor(spec_.run);
  ASSIGN_OR_RETURN(store_, store::ExperimentStore::Create(fs_, options_.out_dir));
  data::PrepareOptions prep;
  prep.num_train_partitions = layout_.partitions;
  prep.num_val_partitions = layout_.partitions;
  prep.seed = spec_.run.seed;
  prep.partitions_field = "run.workers (one partition per worker)";
  RETURN_IF_ERROR(data::Prepare(ToSourceSpec(spec_), prep, store_->DataDir()));
  RETURN_IF_ERROR(store_->WriteJsonFile("spec.json", spec::ToJson(spec_)));
  Json models = Json::array();
  for (const auto& m : models_) models.push_back({{"id", m.outcome.id}, {"params", m.outcome.params}});
  RETURN_IF_ERROR(store_->WriteJsonFile("models.json", models));
  RETURN_IF_ERROR(store_->Publish());

  exec::BackendConfig bc;
  bc.kind = spec_.run.backend;
  bc.worker_binary = options_.worker_binary;
  bc.threads_per_worker = spec_.run.threads_per_worker;
  bc.ray_address = spec_.run.ray_address;
  auto backend = exec::MakeBackend(bc);
  Status st = backend.status();
  std::vector<exec::WorkerSetup> setups;
  for (int p : layout_.worker_partition) setups.push_back({store_->DataDir(), p, p});
  if (st.ok()) {
    backend_ = std::move(backend).value();
    st = backend_->Start(setups);
  }
  if (!st.ok()) {
    if (backend_) backend_->Shutdown();
    (void)fs_->RemoveAll(store_->dir());  // nothing trained yet: leave no half-made run
    return st;
  }
  for (const auto& w : backend_->warnings()) LogWarning(w);
  worker_dead_.assign(setups.size(), false);

  sched::HopperOptions ho;
  ho.seed = DeriveSeed(spec_.run.seed, "sched");
  ho.order = spec_.run.order == "fixed" ? sched::Order::kFixed : sched::Order::kRandom;
  ho.policy = layout_.policy;
  hopper_ = std::make_unique<sched::Hopper>(layout_.worker_partition, ho);
  for (auto& m : models_) {
    hopper_->AddModel(m.outcome.id, spec_.run.epochs);
    m.epochs[0];
  }
  units_total_ = hopper_->units_remaining();
  timing_.prepare_seconds = Now() - t0;
  if (options_.on_started) options_.on_started(store_->dir());
  return Status::Ok();
}

Status Runner::Dispatch(int w) {
  if (worker_dead_[w] || hopper_->worker_busy(w)) return Status::Ok();
  std::optional<sched::Unit> u = hopper_->Next(w);
  if (!u) return Status::Ok();
  ModelRun& m = models_[u->model];
  exec::UnitRequest req;
  req.unit = *u;
  req.model_config_json = m.config_json;
  req.init_seed = DeriveSeed(spec_.run.seed, "model.init", {static_cast<uint64_t>(u->model)});
  req.unit_seed = DeriveSeed(spec_.run.seed, "unit",
                             {static_cast<uint64_t>(u->model), static_cast<uint64_t>(u->epoch),
                              static_cast<uint64_t>(u->kind), static_cast<uint64_t>(u->partition)});
  req.state = m.state;
  RETURN_IF_ERROR(backend_->Submit(req));
  ++in_flight_;
  return Status::Ok();
}

void Runner::FailModel(ModelRun& m, const std::string& why) {
  if (m.failed) return;
  m.failed = true;
  m.outcome.status = "failed";
  m.outcome.failure = why;
  hopper_->StopModel(m.outcome.id);
  LogWarning("model " + std::to_string(m.outcome.id) + " failed: " + why);
  (void)store_->AppendJournal(
      {{"type", "model_failed"}, {"model", m.outcome.id}, {"reason", why}});
}

Status Runner::FinishEpoch(ModelRun& m, int epoch) {
  EpochAccumulator& acc = m.epochs[epoch];
  store::EpochRow row;
  row.model_id = m.outcome.id;
  row.epoch = epoch + 1;
  double train_loss = 0, train_correct = 0, val_loss = 0, val_correct = 0;
  std::vector<std::pair<int, int>> order;  // (seq, partition)
  for (size_t p = 0; p < acc.train.size(); ++p) {
    const auto& part = acc.train[p];
    train_loss += part.loss_sum;
    train_correct += part.correct;
    row.train_examples += part.n;
    row.seconds += part.compute;
    order.push_back({part.seq, static_cast<int>(p)});
  }
  std::sort(order.begin(), order.end());
  for (auto& [seq, p] : order) {
    row.train_order.push_back(p);
    row.workers.push_back(acc.train[p].worker);
  }
  for (const auto& part : acc.eval) {
    val_loss += part.loss_sum;
    val_correct += part.correct;
    row.val_examples += part.n;
    row.seconds += part.compute;
  }
  // Weighted by sample count: sums over partitions divided by the total examples.
  if (row.train_examples > 0) {
    row.train_loss = train_loss / row.train_examples;
    row.train_accuracy = train_correct / row.train_examples;
  }
  if (row.val_examples > 0) {
    row.val_loss = val_loss / row.val_examples;
    row.val_accuracy = val_correct / row.val_examples;
  }
  RETURN_IF_ERROR(store_->AppendEpochRow(row));
  m.outcome.history.push_back(row);
  m.epochs.erase(epoch);
  if (!std::isfinite(row.val_loss)) {
    FailModel(m, "non-finite validation loss after epoch " + std::to_string(row.epoch));
    return Status::Ok();
  }
  double v = MetricOf(row, spec_.metric.name);
  if (best_model_ < 0 || Better(v, best_value_, spec_.metric.direction) ||
      best_model_ == m.outcome.id) {
    // Re-evaluate the leader from scratch when the current leader's value changed.
    best_model_ = -1;
    for (const auto& other : models_) {
      if (other.failed || other.outcome.history.empty()) continue;
      double ov = MetricOf(other.outcome.history.back(), spec_.metric.name);
      if (best_model_ < 0 || Better(ov, best_value_, spec_.metric.direction)) {
        best_model_ = other.outcome.id;
        best_value_ = ov;
      }
    }
  }
  return Status::Ok();
}

Status Runner::Handle(exec::Completion c) {
  --in_flight_;
  const sched::Unit& u = c.unit;
  ModelRun& m = models_[u.model];
  timing_.compute_seconds += c.compute_seconds;
  timing_.transfer_seconds += c.transfer_seconds;
  timing_.state_codec_seconds += c.state_seconds;

  if (c.kind == exec::CompletionKind::kWorkerLost) {
    hopper_->Fail(u);
    ++m.failures;
    LogWarning(c.error + "; re-queueing model " + std::to_string(u.model) + " epoch " +
               std::to_string(u.epoch + 1) + " partition " + std::to_string(u.partition) +
               " from its last state");
    RETURN_IF_ERROR(store_->AppendJournal({{"type", "worker_lost"},
                                           {"worker", u.worker},
                                           {"model", u.model},
                                           {"epoch", u.epoch},
                                           {"partition", u.partition},
                                           {"error", c.error}}));
    if (m.failures > spec_.run.max_unit_retries) {
      FailModel(m, "its units killed " + std::to_string(m.failures) + " workers; last: " + c.error);
    }
    Status st = backend_->RestartWorker(u.worker);
    if (!st.ok()) {
      LogError("worker " + std::to_string(u.worker) + " could not be restarted: " + st.message());
      hopper_->WorkerLost(u.worker);
      worker_dead_[u.worker] = true;
    }
    return Status::Ok();
  }
  if (c.kind == exec::CompletionKind::kModelFailed) {
    hopper_->Fail(u);
    FailModel(m, c.error);
    return Status::Ok();
  }
  if (m.failed) {  // a stopped model's last running unit: nothing more to record
    hopper_->Fail(u);
    return Status::Ok();
  }
  EpochAccumulator& acc = m.epochs[u.epoch];
  auto& parts = u.kind == sched::UnitKind::kTrain ? acc.train : acc.eval;
  if (parts.size() < static_cast<size_t>(layout_.partitions)) parts.resize(layout_.partitions);
  auto& part = parts[u.partition];
  part.loss_sum = c.loss_sum;
  part.correct = c.correct;
  part.n = c.num_examples;
  part.compute = c.compute_seconds;
  part.worker = u.worker;
  if (u.kind == sched::UnitKind::kTrain) {
    part.seq = acc.next_seq++;
    timing_.train_examples += c.num_examples;
    timing_.state_bytes_moved += c.state.size() + (m.state ? m.state->size() : 0);
    m.state = std::make_shared<const std::string>(std::move(c.state));
    ++m.outcome.train_units;
    double t0 = Now();
    // Durable order: the checkpoint is in place before the journal says the unit is done.
    RETURN_IF_ERROR(store_->WriteCheckpoint(u.model, *m.state));
    timing_.checkpoint_seconds += Now() - t0;
  } else {
    ++m.outcome.eval_units;
  }
  RETURN_IF_ERROR(store_->AppendJournal({{"type", "unit"},
                                         {"model", u.model},
                                         {"epoch", u.epoch},
                                         {"kind", u.kind == sched::UnitKind::kTrain ? "train" : "eval"},
                                         {"partition", u.partition},
                                         {"worker", u.worker},
                                         {"loss_sum", c.loss_sum},
                                         {"correct", c.correct},
                                         {"examples", c.num_examples},
                                         {"compute_seconds", c.compute_seconds}}));
  sched::CompletionEvents ev = hopper_->Complete(u);
  if (ev.epoch_done) RETURN_IF_ERROR(FinishEpoch(m, u.epoch));
  return Status::Ok();
}

void Runner::ReportProgress() {
  if (!options_.on_progress) return;
  Progress p;
  p.epochs = spec_.run.epochs;
  p.epoch = spec_.run.epochs;
  for (const auto& m : models_) {
    if (!m.failed) p.epoch = std::min(p.epoch, hopper_->epochs_done(m.outcome.id) + 1);
  }
  p.units_total = units_total_;
  p.units_done = hopper_->units_completed();
  p.elapsed_seconds = Now() - start_;
  int64_t remaining = hopper_->units_remaining();
  if (p.units_done > 0) p.eta_seconds = p.elapsed_seconds / p.units_done * remaining;
  p.units_total = p.units_done + remaining;  // shrinks when models fail
  p.best_model = best_model_;
  p.best_value = best_value_;
  p.metric = spec_.metric.name;
  options_.on_progress(p);
}

Status Runner::Loop() {
  start_ = Now();
  const int workers = backend_->num_workers();
  for (int w = 0; w < workers; ++w) RETURN_IF_ERROR(Dispatch(w));
  while (!hopper_->Done()) {
    if (in_flight_ == 0) {
      return Internal("no live worker can run the remaining " +
                      std::to_string(hopper_->units_remaining()) + " units");
    }
    ASSIGN_OR_RETURN(exec::Completion c, backend_->WaitAny());
    exec::Completion copy_for_hook;
    if (options_.after_completion) {
      copy_for_hook = c;
      copy_for_hook.state.clear();
    }
    RETURN_IF_ERROR(Handle(std::move(c)));
    ReportProgress();
    if (options_.after_completion) options_.after_completion(copy_for_hook, *backend_);
    // A completion frees a worker and a model: either may unlock units elsewhere.
    for (int w = 0; w < workers; ++w) RETURN_IF_ERROR(Dispatch(w));
  }
  timing_.wall_seconds = Now() - start_;
  return Status::Ok();
}

RunResult Runner::BuildResult() {
  RunResult r;
  r.run_dir = store_->dir();
  r.metric = spec_.metric.name;
  r.direction = spec_.metric.direction;
  r.timing = timing_;
  r.warnings = backend_ ? backend_->warnings() : std::vector<std::string>{};
  for (auto& m : models_) {
    if (!m.failed && m.outcome.history.size() < static_cast<size_t>(spec_.run.epochs)) {
      m.outcome.status = "failed";
      m.outcome.failure = "incomplete";
    }
    r.models.push_back(m.outcome);
  }
  std::stable_sort(r.models.begin(), r.models.end(), [&](const ModelOutcome& a, const ModelOutcome& b) {
    bool ca = a.status == "completed", cb = b.status == "completed";
    if (ca != cb) return ca;
    if (!ca) return a.id < b.id;
    double va = MetricOf(a.history.back(), r.metric), vb = MetricOf(b.history.back(), r.metric);
    if (va != vb) return Better(va, vb, r.direction);
    return a.id < b.id;
  });
  for (size_t i = 0; i < r.models.size(); ++i) r.models[i].rank = static_cast<int>(i) + 1;
  if (!r.models.empty() && r.models[0].status == "completed") {
    r.best_model = r.models[0].id;
    r.best_value = MetricOf(r.models[0].history.back(), r.metric);
  }
  return r;
}

Status Runner::WriteSummary(const RunResult& r) {
  Json models = Json::array();
  for (const auto& m : r.models) {
    Json j = {{"id", m.id}, {"rank", m.rank}, {"params", m.params}, {"status", m.status}};
    if (!m.failure.empty()) j["failure"] = m.failure;
    j["train_units"] = m.train_units;
    j["eval_units"] = m.eval_units;
    j["history"] = HistoryJson(m.history);
    if (m.status == "completed") j["checkpoint"] = store_->CheckpointPath(m.id).substr(r.run_dir.size() + 1);
    models.push_back(std::move(j));
  }
  Json summary = Json::object();
  if (!spec_.name.empty()) summary["name"] = spec_.name;
  summary["metric"] = r.metric;
  summary["direction"] = spec::DirectionName(r.direction);
  if (r.best_model >= 0) {
    summary["best"] = {{"model_id", r.best_model},
                       {"metric", r.metric},
                       {"direction", spec::DirectionName(r.direction)},
                       {"value", r.best_value}};
  } else {
    summary["best"] = nullptr;
  }
  summary["strategy"] = spec_.run.strategy;
  summary["workers"] = static_cast<int>(layout_.worker_partition.size());
  summary["partitions"] = layout_.partitions;
  summary["epochs"] = spec_.run.epochs;
  summary["seed"] = spec_.run.seed;
  summary["order"] = spec_.run.order;
  const RunTiming& t = r.timing;
  summary["timing"] = {{"wall_seconds", t.wall_seconds},
                       {"prepare_seconds", t.prepare_seconds},
                       {"compute_seconds", t.compute_seconds},
                       {"transfer_seconds", t.transfer_seconds},
                       {"state_codec_seconds", t.state_codec_seconds},
                       {"checkpoint_seconds", t.checkpoint_seconds},
                       {"train_examples", t.train_examples},
                       {"train_samples_per_second",
                        t.wall_seconds > 0 ? t.train_examples / t.wall_seconds : 0.0},
                       {"state_bytes_moved", t.state_bytes_moved}};
  summary["models"] = models;
  return store_->WriteJsonFile("summary.json", summary);
}

StatusOr<RunResult> Runner::Run() {
  RETURN_IF_ERROR(Setup());
  Status st = Loop();
  backend_->Shutdown();
  RunResult r = BuildResult();
  RETURN_IF_ERROR(WriteSummary(r));
  RETURN_IF_ERROR(st);
  return r;
}

}  // namespace

data::SourceSpec ToSourceSpec(const spec::ExperimentSpec& s) {
  data::SourceSpec src;
  src.format = s.data.format;
  src.train_path = s.data.train_path;
  src.train_labels_path = s.data.train_labels_path;
  src.val_path = s.data.val_path;
  src.val_labels_path = s.data.val_labels_path;
  src.val_fraction = s.data.val_fraction;
  src.csv_header = s.data.csv_header;
  src.csv_label_column = s.data.csv_label_column;
  src.csv_delimiter = s.data.csv_delimiter;
  src.libsvm_num_features = s.data.libsvm_num_features;
  src.feature_scale = s.data.feature_scale;
  src.task = s.task == "regression" ? data::Task::kRegression : data::Task::kClassification;
  return src;
}

StatusOr<RunResult> RunExperiment(const spec::ExperimentSpec& spec, const RunOptions& options) {
  if (options.out_dir.empty()) return InvalidArgument("--out: missing output directory");
  Runner runner(spec, options);
  return runner.Run();
}

std::string FormatRankedTable(const RunResult& r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-4s %-5s %-10s %-9s %-9s %-9s  %s\n", "rank", "model",
                "status", ("val_" + r.metric).c_str(), "val_loss", "train_acc", "params");
  out += line;
  for (const auto& m : r.models) {
    std::string params = m.params.dump();
    if (m.status == "completed") {
      const auto& last = m.history.back();
      std::snprintf(line, sizeof(line), "%-4d %-5d %-10s %-9.4f %-9.4f %-9.4f  %s\n", m.rank, m.id,
                    m.status.c_str(), MetricOf(last, r.metric), last.val_loss, last.train_accuracy,
                    params.c_str());
    } else {
      std::snprintf(line, sizeof(line), "%-4d %-5d %-10s %-9s %-9s %-9s  %s  (%s)\n", m.rank, m.id,
                    m.status.c_str(), "-", "-", "-", params.c_str(), m.failure.c_str());
    }
    out += line;
  }
  return out;
}

}  // namespace cerebro::driver

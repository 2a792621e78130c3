#include "cerebro/driver/driver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>

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

// models.json: [{"id": ..., "params": {...}}, ...].
spec::Json ModelsJson(const std::vector<search::ModelConfig>& configs) {
  spec::Json models = spec::Json::array();
  for (const auto& c : configs) models.push_back({{"id", c.id}, {"params", c.params}});
  return models;
}

// How a strategy lays data out: number of partitions and which one each worker holds.
struct Layout {
  int partitions = 1;
  std::vector<int> worker_partition;  // by worker process
  int concurrency = 1;                // units in flight at once (run.workers)
  sched::Policy policy = sched::Policy::kRandomGreedy;
};

Layout LayoutFor(const spec::RunSpec& run) {
  Layout l;
  l.concurrency = run.workers;
  if (run.strategy == "mop") {
    // One partition per worker process; models hop. With more partitions than workers,
    // every partition still gets its own process, but only `workers` run at once.
    l.partitions = run.partitions > 0 ? run.partitions : run.workers;
    for (int p = 0; p < l.partitions; ++p) l.worker_partition.push_back(p);
  } else if (run.strategy == "sequential") {
    // One worker, all the data, models one after another.
    l.partitions = 1;
    l.worker_partition = {0};
    l.concurrency = 1;
    l.policy = sched::Policy::kLowestIdFirst;
  } else if (run.strategy == "dp") {
    // Data-parallel baseline: one partition per worker; every worker trains the same
    // model at once from the same state and the states are averaged (LoopDataParallel).
    l.partitions = run.workers;
    for (int p = 0; p < l.partitions; ++p) l.worker_partition.push_back(p);
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
  int train_seq = 0;  // training units completed; names the checkpoints
  std::map<int, EpochAccumulator> epochs;
  int failures = 0;   // worker losses while running this model's units
  bool failed = false;
  bool done = false;  // all epochs completed
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

const char* KindName(sched::UnitKind k) { return k == sched::UnitKind::kTrain ? "train" : "eval"; }

// One run of the loop, new or resumed. Owns the store, the backend and the scheduler.
class Runner {
 public:
  Runner(spec::ExperimentSpec spec, const RunOptions& options)
      : spec_(std::move(spec)), options_(options),
        fs_(options.fs != nullptr ? options.fs : &RealFileSystem()) {}

  // A new run: validate, prepare, publish, train.
  StatusOr<RunResult> RunNew();
  // An interrupted run: rebuild state from the journal, train what is left.
  StatusOr<RunResult> RunResumed(std::unique_ptr<store::ExperimentStore> store, const Json& models);

 private:
  Status LoadModels(const std::vector<search::ModelConfig>& configs);
  Status StartBackend();
  void MakeHopper();
  Status RestoreFromJournal();
  Status Finish(Status loop_status, RunResult* out);
  Status Loop();
  // The data-parallel baseline: models one at a time, each epoch's training units on
  // all partitions at once from the same state, then the states averaged.
  Status LoopDataParallel();
  // Waits for the `units` just submitted; re-submits a unit whose worker died (up to
  // max_unit_retries). Fills `done` by partition; returns false if the model failed.
  StatusOr<bool> CollectDataParallel(ModelRun& m, std::vector<exec::UnitRequest>& units,
                                     std::vector<exec::Completion>* done);  Status Dispatch(int worker);
  Status Handle(exec::Completion c);
  // Records a successful unit (live or from the journal) and closes epochs it completes.
  Status Record(const sched::Unit& u, const sched::CompletionEvents& ev, double loss_sum,
                double correct, int64_t n, double compute, bool restoring);
  Status FinishEpoch(ModelRun& m, int epoch, bool restoring);
  void FailModel(ModelRun& m, const std::string& why, bool restoring);
  void ApplyRetention();
  void UpdateBest();
  void ReportProgress();
  RunResult BuildResult();
  Status WriteSummary(const RunResult& r);

  spec::ExperimentSpec spec_;
  const RunOptions& options_;
  FileSystem* fs_;
  Layout layout_;
  std::vector<ModelRun> models_;
  std::vector<store::EpochRow> rows_;  // every epoch row in completion order
  std::unique_ptr<store::ExperimentStore> store_;
  std::unique_ptr<exec::Backend> backend_;
  std::unique_ptr<sched::Hopper> hopper_;
  std::vector<bool> worker_dead_;
  int in_flight_ = 0;
  double start_ = 0;
  RunTiming timing_;
  int best_model_ = -1;
  double best_value_ = 0;
};

Status Runner::LoadModels(const std::vector<search::ModelConfig>& configs) {
  // Every configuration must be trainable before anything is written or started.
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
    if (c.id != static_cast<int>(models_.size())) return DataLoss("models: ids must be 0..n-1");
    ModelRun m;
    m.outcome.id = c.id;
    m.outcome.params = c.params;
    m.outcome.status = "completed";
    m.config_json = std::move(json);
    models_.push_back(std::move(m));
  }
  layout_ = LayoutFor(spec_.run);
  return Status::Ok();
}

Status Runner::StartBackend() {
  exec::BackendConfig bc;
  bc.kind = spec_.run.backend;
  bc.worker_binary = options_.worker_binary;
  bc.threads_per_worker = spec_.run.threads_per_worker;
  bc.ray_address = spec_.run.ray_address;
  ASSIGN_OR_RETURN(backend_, exec::MakeBackend(bc));
  std::vector<exec::WorkerSetup> setups;
  for (int p : layout_.worker_partition) setups.push_back({store_->DataDir(), p, p});
  Status st = backend_->Start(setups);
  if (!st.ok()) {
    backend_->Shutdown();
    return st;
  }
  for (const auto& w : backend_->warnings()) LogWarning(w);
  worker_dead_.assign(setups.size(), false);
  return Status::Ok();
}

void Runner::MakeHopper() {
  sched::HopperOptions ho;
  ho.seed = DeriveSeed(spec_.run.seed, "sched");
  ho.order = spec_.run.order == "fixed" || !options_.scripted_orders.empty() ? sched::Order::kFixed
                                                                            : sched::Order::kRandom;
  // The data-parallel loop only books its units with the hopper (Restore), in any order.
  if (spec_.run.strategy == "dp") ho.order = sched::Order::kRandom;
  ho.policy = layout_.policy;
  hopper_ = std::make_unique<sched::Hopper>(layout_.worker_partition, ho);
  for (const auto& [key, order] : options_.scripted_orders) {
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = static_cast<int>(order.size()) == layout_.partitions;
    for (int i = 0; permutation && i < layout_.partitions; ++i) permutation = sorted[i] == i;
    // Only whole epochs are scripted; a partial one (the run was cut short) follows the seed.
    if (key.first >= 0 && key.first < static_cast<int>(models_.size()) && permutation) {
      hopper_->SetTrainOrder(key.first, key.second, order);
    }
  }
  for (auto& m : models_) hopper_->AddModel(m.outcome.id, spec_.run.epochs);
}

StatusOr<RunResult> Runner::RunNew() {
  double t0 = Now();
  ASSIGN_OR_RETURN(auto configs, search::GenerateConfigs(spec_));
  RETURN_IF_ERROR(LoadModels(configs));
  ASSIGN_OR_RETURN(store_, store::ExperimentStore::Create(fs_, options_.out_dir));
  data::PrepareOptions prep;
  prep.num_train_partitions = layout_.partitions;
  prep.num_val_partitions = layout_.partitions;
  prep.seed = spec_.run.seed;
  prep.partitions_field = "run.workers (one partition per worker)";
  RETURN_IF_ERROR(data::Prepare(ToSourceSpec(spec_), prep, store_->DataDir()));
  RETURN_IF_ERROR(store_->WriteJsonFile("spec.json", spec::ToJson(spec_)));
  RETURN_IF_ERROR(store_->WriteJsonFile("models.json", ModelsJson(configs)));
  RETURN_IF_ERROR(store_->Publish());
  Status st = StartBackend();
  if (!st.ok()) {
    (void)fs_->RemoveAll(store_->dir());  // nothing trained yet: leave no half-made run
    return st;
  }
  MakeHopper();
  timing_.prepare_seconds = Now() - t0;
  if (options_.on_started) options_.on_started(store_->dir(), spec_);
  RunResult r;
  RETURN_IF_ERROR(Finish(spec_.run.strategy == "dp" ? LoopDataParallel() : Loop(), &r));
  return r;
}

StatusOr<RunResult> Runner::RunResumed(std::unique_ptr<store::ExperimentStore> store,
                                       const Json& models) {
  double t0 = Now();
  store_ = std::move(store);
  std::vector<search::ModelConfig> configs;
  if (!models.is_array()) return DataLoss(store_->Path("models.json") + ": expected a list");
  for (const auto& m : models) {
    if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer() || !m.contains("params")) {
      return DataLoss(store_->Path("models.json") + ": malformed entry " + m.dump());
    }
    configs.push_back({m["id"].get<int>(), m["params"]});
  }
  RETURN_IF_ERROR(LoadModels(configs));
  MakeHopper();
  RETURN_IF_ERROR(RestoreFromJournal());
  if (!hopper_->Done()) RETURN_IF_ERROR(StartBackend());
  timing_.prepare_seconds = Now() - t0;
  if (options_.on_started) options_.on_started(store_->dir(), spec_);
  RunResult r;
  RETURN_IF_ERROR(Finish(hopper_->Done() ? Status::Ok() : Loop(), &r));
  return r;
}

Status Runner::RestoreFromJournal() {
  ASSIGN_OR_RETURN(std::vector<Json> records, store_->ReadJournal());
  const std::string where = store_->Path("journal.jsonl");
  int line = 0;
  for (const Json& j : records) {
    ++line;
    auto bad = [&](const std::string& why) {
      return DataLoss(where + ":" + std::to_string(line) + ": " + why);
    };
    const std::string type = j.value("type", "");
    int model = j.value("model", -1);
    if (model < 0 || model >= static_cast<int>(models_.size())) return bad("unknown model");
    ModelRun& m = models_[model];
    if (type == "worker_lost") {
      ++m.failures;
    } else if (type == "model_failed") {
      FailModel(m, j.value("reason", "failed"), /*restoring=*/true);
    } else if (type == "unit") {
      sched::Unit u;
      u.model = model;
      u.epoch = j.value("epoch", -1);
      u.kind = j.value("kind", "") == "train" ? sched::UnitKind::kTrain : sched::UnitKind::kEval;
      u.partition = j.value("partition", -1);
      u.worker = j.value("worker", -1);
      sched::CompletionEvents ev;
      if (m.failed || !hopper_->Restore(u.model, u.epoch, u.kind, u.partition, &ev)) {
        return bad("unit does not fit the schedule (was the spec or journal edited?)");
      }
      if (u.kind == sched::UnitKind::kTrain) {
        if (j.contains("checkpoint")) m.outcome.checkpoint = j.value("checkpoint", "");
        ++m.train_seq;
      }
      RETURN_IF_ERROR(Record(u, ev, j.value("loss_sum", 0.0), j.value("correct", 0.0),
                             j.value("examples", int64_t{0}), j.value("compute_seconds", 0.0),
                             /*restoring=*/true));
    } else {
      return bad("unknown record type '" + type + "'");
    }
  }
  // Each live model continues from the state its last journaled unit produced.
  std::set<std::string> keep;
  for (auto& m : models_) {
    if (m.outcome.checkpoint.empty()) continue;
    if (!m.failed && !m.done) {
      auto bytes = store_->ReadFile(m.outcome.checkpoint);
      if (!bytes.ok()) return DataLoss("model " + std::to_string(m.outcome.id) + ": " + bytes.status().message());
      m.state = std::make_shared<const std::string>(std::move(bytes).value());
    }
    keep.insert(m.outcome.checkpoint);
  }
  // States written after the last journal line (the crash came between the two) never
  // happened; retention may have removed others already.
  auto names = fs_->ListDir(store_->Path("checkpoints"));
  if (names.ok()) {
    for (const auto& n : *names) {
      if (!keep.count("checkpoints/" + n)) (void)store_->RemoveRelative("checkpoints/" + n);
    }
  }
  for (auto& m : models_) {
    if (!m.outcome.checkpoint.empty() && !fs_->Exists(store_->Path(m.outcome.checkpoint))) {
      m.outcome.checkpoint.clear();  // removed by retention before the crash
    }
  }
  RETURN_IF_ERROR(store_->RewriteEpochRows(rows_));
  UpdateBest();
  return Status::Ok();
}

Status Runner::Dispatch(int w) {
  if (in_flight_ >= layout_.concurrency) return Status::Ok();
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

void Runner::FailModel(ModelRun& m, const std::string& why, bool restoring) {
  if (m.failed) return;
  m.failed = true;
  m.outcome.status = "failed";
  m.outcome.failure = why;
  hopper_->StopModel(m.outcome.id);
  if (restoring) return;
  LogWarning("model " + std::to_string(m.outcome.id) + " failed: " + why);
  (void)store_->AppendJournal({{"type", "model_failed"}, {"model", m.outcome.id}, {"reason", why}});
  ApplyRetention();
}

void Runner::UpdateBest() {
  best_model_ = -1;
  for (const auto& m : models_) {
    if (m.failed || m.outcome.history.empty()) continue;
    double v = MetricOf(m.outcome.history.back(), spec_.metric.name);
    if (best_model_ < 0 || Better(v, best_value_, spec_.metric.direction)) {
      best_model_ = m.outcome.id;
      best_value_ = v;
    }
  }
}

// Keeps the latest state of every live model, the final states of the best keep_best
// finished models, and failed models' last states only when asked (keep_failed).
void Runner::ApplyRetention() {
  std::vector<ModelRun*> finished;
  for (auto& m : models_) {
    if (m.outcome.checkpoint.empty()) continue;
    if (m.failed && !spec_.run.keep_failed) {
      (void)store_->RemoveRelative(m.outcome.checkpoint);
      m.outcome.checkpoint.clear();
    } else if (m.done && !m.failed) {
      finished.push_back(&m);
    }
  }
  std::stable_sort(finished.begin(), finished.end(), [&](const ModelRun* a, const ModelRun* b) {
    return Better(MetricOf(a->outcome.history.back(), spec_.metric.name),
                  MetricOf(b->outcome.history.back(), spec_.metric.name), spec_.metric.direction);
  });
  for (size_t i = static_cast<size_t>(spec_.run.keep_best); i < finished.size(); ++i) {
    (void)store_->RemoveRelative(finished[i]->outcome.checkpoint);
    finished[i]->outcome.checkpoint.clear();
  }
}

Status Runner::FinishEpoch(ModelRun& m, int epoch, bool restoring) {
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
  if (!restoring) RETURN_IF_ERROR(store_->AppendEpochRow(row));
  rows_.push_back(row);
  m.outcome.history.push_back(row);
  m.epochs.erase(epoch);
  if (!std::isfinite(row.val_loss)) {
    FailModel(m, "non-finite validation loss after epoch " + std::to_string(row.epoch), restoring);
  }
  return Status::Ok();
}

Status Runner::Record(const sched::Unit& u, const sched::CompletionEvents& ev, double loss_sum,
                      double correct, int64_t n, double compute, bool restoring) {
  ModelRun& m = models_[u.model];
  EpochAccumulator& acc = m.epochs[u.epoch];
  auto& parts = u.kind == sched::UnitKind::kTrain ? acc.train : acc.eval;
  if (parts.size() < static_cast<size_t>(layout_.partitions)) parts.resize(layout_.partitions);
  auto& part = parts[u.partition];
  part.loss_sum = loss_sum;
  part.correct = correct;
  part.n = n;
  part.compute = compute;
  part.worker = u.worker;
  if (u.kind == sched::UnitKind::kTrain) {
    part.seq = acc.next_seq++;
    ++m.outcome.train_units;
  } else {
    ++m.outcome.eval_units;
  }
  if (ev.epoch_done) RETURN_IF_ERROR(FinishEpoch(m, u.epoch, restoring));
  if (ev.model_done && !m.failed) {
    m.done = true;
    if (!restoring) ApplyRetention();
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
      FailModel(m, "its units killed " + std::to_string(m.failures) + " workers; last: " + c.error,
                false);
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
    FailModel(m, c.error, false);
    return Status::Ok();
  }
  if (m.failed) {  // a stopped model's last running unit: nothing more to record
    hopper_->Fail(u);
    return Status::Ok();
  }
  Json record = {{"type", "unit"},
                 {"model", u.model},
                 {"epoch", u.epoch},
                 {"kind", KindName(u.kind)},
                 {"partition", u.partition},
                 {"worker", u.worker},
                 {"loss_sum", c.loss_sum},
                 {"correct", c.correct},
                 {"examples", c.num_examples},
                 {"compute_seconds", c.compute_seconds}};
  std::string previous_checkpoint;
  if (u.kind == sched::UnitKind::kTrain) {
    timing_.train_examples += c.num_examples;
    timing_.state_bytes_moved += c.state.size() + (m.state ? m.state->size() : 0);
    m.state = std::make_shared<const std::string>(std::move(c.state));
    double t0 = Now();
    // Durable order: the new state is on disk before the journal names it, and the old
    // one goes only after, so the journal always names a state that exists.
    ASSIGN_OR_RETURN(std::string name, store_->WriteCheckpoint(u.model, m.train_seq + 1, *m.state));
    record["checkpoint"] = name;
    RETURN_IF_ERROR(store_->AppendJournal(record));
    if (!m.outcome.checkpoint.empty()) RETURN_IF_ERROR(store_->RemoveRelative(m.outcome.checkpoint));
    timing_.checkpoint_seconds += Now() - t0;
    m.outcome.checkpoint = name;
    ++m.train_seq;
  } else {
    RETURN_IF_ERROR(store_->AppendJournal(record));
  }
  sched::CompletionEvents ev = hopper_->Complete(u);
  RETURN_IF_ERROR(Record(u, ev, c.loss_sum, c.correct, c.num_examples, c.compute_seconds, false));
  UpdateBest();
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
  p.units_done = hopper_->units_completed();
  int64_t remaining = hopper_->units_remaining();
  p.units_total = p.units_done + remaining;  // shrinks when models fail
  p.elapsed_seconds = Now() - start_;
  if (p.units_done > 0) p.eta_seconds = p.elapsed_seconds / p.units_done * remaining;
  p.best_model = best_model_;
  p.best_value = best_value_;
  p.metric = spec_.metric.name;
  options_.on_progress(p);
}

Status Runner::Loop() {
  start_ = Now();
  const int workers = backend_->num_workers();
  // When processes outnumber the concurrency, start each round at a different process so
  // no partition is favoured.
  int first = 0;
  auto dispatch_all = [&]() -> Status {
    for (int k = 0; k < workers; ++k) RETURN_IF_ERROR(Dispatch((first + k) % workers));
    first = (first + 1) % workers;
    return Status::Ok();
  };
  RETURN_IF_ERROR(dispatch_all());
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
    RETURN_IF_ERROR(dispatch_all());
  }
  timing_.wall_seconds = Now() - start_;
  return Status::Ok();
}

StatusOr<bool> Runner::CollectDataParallel(ModelRun& m, std::vector<exec::UnitRequest>& units,
                                           std::vector<exec::Completion>* done) {
  done->assign(units.size(), exec::Completion{});
  size_t pending = units.size();
  bool failed = false;
  while (pending > 0) {
    ASSIGN_OR_RETURN(exec::Completion c, backend_->WaitAny());
    --in_flight_;
    timing_.compute_seconds += c.compute_seconds;
    timing_.transfer_seconds += c.transfer_seconds;
    timing_.state_codec_seconds += c.state_seconds;
    const int p = c.unit.partition;
    if (c.kind == exec::CompletionKind::kWorkerLost) {
      ++m.failures;
      RETURN_IF_ERROR(store_->AppendJournal({{"type", "worker_lost"}, {"worker", c.unit.worker},
                                             {"model", m.outcome.id}, {"epoch", c.unit.epoch},
                                             {"partition", p}, {"error", c.error}}));
      RETURN_IF_ERROR(backend_->RestartWorker(c.unit.worker));
      if (m.failures > spec_.run.max_unit_retries) {
        failed = true;
        (*done)[p].error = "its units killed " + std::to_string(m.failures) + " workers; last: " + c.error;
        --pending;
      } else {
        RETURN_IF_ERROR(backend_->Submit(units[p]));  // the same unit, from the same state
        ++in_flight_;
      }
      continue;
    }
    if (c.kind == exec::CompletionKind::kModelFailed) failed = true;
    (*done)[p] = std::move(c);
    --pending;
  }
  if (failed) {
    for (const auto& c : *done) {
      if (!c.error.empty()) {
        FailModel(m, c.error, false);
        break;
      }
    }
  }
  return !failed;
}

Status Runner::LoopDataParallel() {
  start_ = Now();
  ASSIGN_OR_RETURN(data::StoreMeta meta, data::ReadStoreMeta(store_->DataDir()));
  const int64_t outputs = meta.task == data::Task::kClassification ? meta.num_classes : 1;
  const int partitions = layout_.partitions;
  for (ModelRun& m : models_) {
    for (int e = 0; e < spec_.run.epochs && !m.failed; ++e) {
      for (sched::UnitKind kind : {sched::UnitKind::kTrain, sched::UnitKind::kEval}) {
        std::vector<exec::UnitRequest> units(partitions);
        for (int p = 0; p < partitions; ++p) {
          exec::UnitRequest& req = units[p];
          req.unit = sched::Unit{m.outcome.id, e, kind, p, /*worker=*/p};
          req.model_config_json = m.config_json;
          req.init_seed = DeriveSeed(spec_.run.seed, "model.init", {static_cast<uint64_t>(m.outcome.id)});
          req.unit_seed = DeriveSeed(spec_.run.seed, "unit",
                                     {static_cast<uint64_t>(m.outcome.id), static_cast<uint64_t>(e),
                                      static_cast<uint64_t>(kind), static_cast<uint64_t>(p)});
          req.state = m.state;
          RETURN_IF_ERROR(backend_->Submit(req));
          ++in_flight_;
        }
        std::vector<exec::Completion> done;
        ASSIGN_OR_RETURN(bool ok, CollectDataParallel(m, units, &done));
        if (!ok) break;
        std::string checkpoint;
        if (kind == sched::UnitKind::kTrain) {
          // Model averaging: the element-wise mean of the partitions' states, in
          // partition order (deterministic).
          double t0 = Now();
          std::vector<const uint8_t*> ptrs;
          std::vector<size_t> sizes;
          for (const auto& c : done) {
            ptrs.push_back(reinterpret_cast<const uint8_t*>(c.state.data()));
            sizes.push_back(c.state.size());
            timing_.train_examples += c.num_examples;
            timing_.state_bytes_moved += c.state.size() + (m.state ? m.state->size() : 0);
          }
          uint8_t* avg = nullptr;
          size_t avg_size = 0;
          char err[512] = {0};
          int rc = cerebro_average_states(m.config_json.c_str(), meta.feature_shape.data(),
                                          static_cast<int>(meta.feature_shape.size()), outputs,
                                          ptrs.data(), sizes.data(), partitions, &avg, &avg_size,
                                          err, sizeof(err));
          if (rc != CEREBRO_OK) {
            FailModel(m, std::string("averaging states: ") + err, false);
            break;
          }
          m.state = std::make_shared<const std::string>(reinterpret_cast<const char*>(avg), avg_size);
          cerebro_buffer_free(avg);
          timing_.state_codec_seconds += Now() - t0;
          t0 = Now();
          ASSIGN_OR_RETURN(checkpoint, store_->WriteCheckpoint(m.outcome.id, m.train_seq + 1, *m.state));
          timing_.checkpoint_seconds += Now() - t0;
        }
        for (int p = 0; p < partitions; ++p) {
          const exec::Completion& c = done[p];
          Json record = {{"type", "unit"}, {"model", m.outcome.id}, {"epoch", e},
                         {"kind", KindName(kind)}, {"partition", p}, {"worker", c.unit.worker},
                         {"loss_sum", c.loss_sum}, {"correct", c.correct},
                         {"examples", c.num_examples}, {"compute_seconds", c.compute_seconds}};
          if (!checkpoint.empty() && p == partitions - 1) record["checkpoint"] = checkpoint;
          RETURN_IF_ERROR(store_->AppendJournal(record));
          sched::CompletionEvents ev;
          CEREBRO_CHECK(hopper_->Restore(m.outcome.id, e, kind, p, &ev));
          RETURN_IF_ERROR(Record(c.unit, ev, c.loss_sum, c.correct, c.num_examples,
                                 c.compute_seconds, false));
          ReportProgress();
        }
        if (!checkpoint.empty()) {
          if (!m.outcome.checkpoint.empty()) RETURN_IF_ERROR(store_->RemoveRelative(m.outcome.checkpoint));
          m.outcome.checkpoint = checkpoint;
          ++m.train_seq;
        }
      }
      UpdateBest();
    }
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
    if (!m.failed && !m.done) {
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
  auto bytes = store_->CheckpointBytes();
  r.timing.checkpoint_bytes = bytes.ok() ? *bytes : 0;
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
    j["checkpoint"] = m.checkpoint.empty() ? Json(nullptr) : Json(m.checkpoint);
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
  summary["backend"] = spec_.run.backend;
  summary["workers"] = layout_.concurrency;
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
  summary["checkpoint_bytes"] = t.checkpoint_bytes;
  summary["models"] = models;
  return store_->WriteJsonFile("summary.json", summary);
}

Status Runner::Finish(Status loop_status, RunResult* out) {
  if (backend_) backend_->Shutdown();
  if (loop_status.ok()) {
    // Rows were appended as epochs completed, in an order that depends on timing; the
    // finished files list them by (model, epoch), so equal runs give equal bytes.
    std::vector<store::EpochRow> sorted = rows_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return std::make_pair(a.model_id, a.epoch) < std::make_pair(b.model_id, b.epoch);
    });
    RETURN_IF_ERROR(store_->RewriteEpochRows(sorted));
  }
  *out = BuildResult();
  RETURN_IF_ERROR(WriteSummary(*out));
  return loop_status;
}

}  // namespace

StatusOr<spec::Json> ConfigurationsJson(const spec::ExperimentSpec& spec) {
  ASSIGN_OR_RETURN(auto configs, search::GenerateConfigs(spec));
  return ModelsJson(configs);
}

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
  return runner.RunNew();
}

namespace {
struct OpenedRun {
  std::unique_ptr<store::ExperimentStore> store;
  spec::ExperimentSpec spec;
  Json models;
};

StatusOr<OpenedRun> OpenRun(const std::string& run_dir, FileSystem* fs) {
  OpenedRun o;
  ASSIGN_OR_RETURN(o.store, store::ExperimentStore::Open(fs, run_dir));
  ASSIGN_OR_RETURN(std::string spec_text, o.store->ReadFile("spec.json"));
  ASSIGN_OR_RETURN(o.spec, spec::ParseSpecString(spec_text, o.store->Path("spec.json")));
  ASSIGN_OR_RETURN(std::string models_text, o.store->ReadFile("models.json"));
  o.models = Json::parse(models_text, nullptr, /*allow_exceptions=*/false);
  if (o.models.is_discarded()) return DataLoss(o.store->Path("models.json") + ": not valid JSON");
  return o;
}
}  // namespace

StatusOr<RunResult> ResumeExperiment(const std::string& run_dir, const RunOptions& options) {
  FileSystem* fs = options.fs != nullptr ? options.fs : &RealFileSystem();
  ASSIGN_OR_RETURN(OpenedRun run, OpenRun(run_dir, fs));
  if (run.spec.run.strategy == "dp") {
    return FailedPrecondition(run_dir + ": strategy dp (a benchmark baseline) cannot be resumed");
  }
  Runner runner(run.spec, options);
  return runner.RunResumed(std::move(run.store), run.models);
}

StatusOr<ReplayReport> ReplayExperiment(const std::string& run_dir, const RunOptions& options) {
  if (options.out_dir.empty()) return InvalidArgument("--out: missing output directory");
  FileSystem* fs = options.fs != nullptr ? options.fs : &RealFileSystem();
  ASSIGN_OR_RETURN(OpenedRun run, OpenRun(run_dir, fs));
  ASSIGN_OR_RETURN(std::vector<Json> journal, run.store->ReadJournal());
  // The realized training order of every (model, epoch), in completion order.
  RunOptions replay_options = options;
  for (const Json& j : journal) {
    if (j.value("type", "") != "unit" || j.value("kind", "") != "train") continue;
    replay_options.scripted_orders[{j.value("model", -1), j.value("epoch", -1)}].push_back(
        j.value("partition", -1));
  }
  // The original per-epoch metrics, from metrics.jsonl.
  std::map<std::pair<int, int>, Json> original;
  ASSIGN_OR_RETURN(std::string rows, run.store->ReadFile("metrics.jsonl"));
  std::istringstream in(rows);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_discarded()) original[{j.value("model_id", -1), j.value("epoch", -1)}] = j;
  }
  spec::ExperimentSpec spec = run.spec;
  spec.run.order = "fixed";
  Runner runner(spec, replay_options);
  ReplayReport report;
  ASSIGN_OR_RETURN(report.replay, runner.RunNew());
  for (const auto& m : report.replay.models) {
    for (const auto& row : m.history) {
      auto it = original.find({row.model_id, row.epoch});
      if (it == original.end()) continue;
      ++report.epochs_compared;
      const Json& o = it->second;
      double diffs[4] = {std::fabs(row.train_loss - o.value("train_loss", 0.0)),
                         std::fabs(row.train_accuracy - o.value("train_accuracy", 0.0)),
                         std::fabs(row.val_loss - o.value("val_loss", 0.0)),
                         std::fabs(row.val_accuracy - o.value("val_accuracy", 0.0))};
      double worst = *std::max_element(std::begin(diffs), std::end(diffs));
      report.max_abs_difference = std::max(report.max_abs_difference, worst);
      if (worst == 0) {
        ++report.epochs_identical;
      } else {
        char buf[200];
        std::snprintf(buf, sizeof(buf), "model %d epoch %d: val_loss %.9g vs %.9g (max |diff| %.3g)",
                      row.model_id, row.epoch, row.val_loss, o.value("val_loss", 0.0), worst);
        report.divergences.push_back(buf);
      }
    }
  }
  return report;
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

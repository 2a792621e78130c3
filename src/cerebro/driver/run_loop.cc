#include "cerebro/driver/run_loop.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>
#include <variant>

#include "cerebro/common/clock.h"
#include "cerebro/common/logging.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/store_cache.h"
#include "cerebro/data/store_identity.h"
#include "cerebro/driver/control_server.h"
#include "cerebro/driver/data_parallel.h"
#include "cerebro/driver/model_size.h"
#include "cerebro/driver/observers.h"
#include "cerebro/driver/run_directory.h"
#include "cerebro/driver/tensorboard_observer.h"
#include "cerebro/search/successive_halving.h"
#include "cerebro/train/state_file.h"

namespace cerebro::driver {
namespace {

// models.json: [{"id": ..., "params": {...}}, ...] for the models a decision adds.
spec::Json ModelsJson(const std::vector<store::Action>& actions) {
  spec::Json models = spec::Json::array();
  for (const store::Action& a : actions) {
    if (const auto* add = std::get_if<store::ModelAdded>(&a)) {
      models.push_back({{"id", add->model}, {"params", add->params}});
    }
  }
  return models;
}

}  // namespace

RunLoop::RunLoop(spec::ExperimentSpec spec, const RunOptions& options)
    : spec_(std::move(spec)),
      options_(options),
      fs_(options.fs != nullptr ? options.fs : &RealFileSystem()),
      commands_(options.commands),
      layout_(LayoutFor(spec_.run)) {}

RunLoop::~RunLoop() {
  if (backend_) backend_->Shutdown();
}

RunConfig RunLoop::MakeRunConfig() const {
  RunConfig c = RunConfigFor(spec_, layout_);
  if (RanksByModelSize(spec_)) {
    c.count_parameters = ParameterCounter([this] { return store_->DataDir(); });
  }
  if (!options_.scripted_orders.empty()) c.hopper.order = sched::Order::kFixed;
  const int partitions = layout_.partitions;
  for (const auto& [key, order] : options_.scripted_orders) {
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = static_cast<int>(order.size()) == partitions;
    for (int i = 0; permutation && i < partitions; ++i) permutation = sorted[i] == i;
    // Only whole epochs are scripted; a partial one (the run was cut short) follows the seed.
    if (permutation) c.scripted_orders[key] = order;
  }
  return c;
}

StatusOr<std::unique_ptr<search::Procedure>> RunLoop::MakeProcedure() const {
  return options_.procedure_factory ? options_.procedure_factory(spec_)
                                    : search::MakeProcedure(spec_);
}

RunView RunLoop::View() const {
  static const std::string kNoDir;
  return RunView{spec_,  *state_, store_ ? store_->dir() : kNoDir, timing_, backend_.get(),
                 resumed_, layout_.concurrency};
}

void RunLoop::AttachObservers() {
  own_observers_.push_back(std::make_unique<MetricsFilesObserver>(store_.get()));
  own_observers_.push_back(std::make_unique<SummaryObserver>(store_.get()));
  own_observers_.push_back(std::make_unique<TensorBoardObserver>());
  for (auto& o : own_observers_) observers_.push_back(o.get());
  for (RunObserver* o : options_.observers) observers_.push_back(o);
}

// ---- set-up -------------------------------------------------------------------------

StatusOr<store::ProcedureDecision> RunLoop::InitialDecision() {
  ASSIGN_OR_RETURN(procedure_, MakeProcedure());
  ASSIGN_OR_RETURN(std::vector<search::Decision> decisions,
                   procedure_->Start(state_->Observe(layout_.concurrency)));
  store::ProcedureDecision d;
  ASSIGN_OR_RETURN(d.actions, ToActions(decisions, store::ModelOrigin::kSearch, /*strict=*/true));
  if (d.actions.empty()) return InvalidArgument("search: the search space yields no model");
  d.state = procedure_->SaveState();
  return d;
}

// The run's data/: linked from data.store, or from the prepared-store cache (prepared into
// it first when absent; data/store_cache.h), or prepared in place when the cache is off.
StatusOr<std::string> RunLoop::Prepare() {
  const double t0 = MonotonicSeconds();
  if (!spec_.data.store.empty()) {
    ASSIGN_OR_RETURN(data::StoreMeta meta, data::ReadStoreMeta(spec_.data.store));
    const size_t want = static_cast<size_t>(layout_.partitions);
    if (meta.train.size() != want || meta.val.size() != want) {
      return InvalidArgument("data.store: " + spec_.data.store + " has " +
                             std::to_string(meta.train.size()) + " train and " +
                             std::to_string(meta.val.size()) +
                             " validation partitions; this run needs " + std::to_string(want) +
                             " of each (run.partitions, or one per worker)");
    }
    const bool regression = spec_.task == spec::Task::kRegression;
    if (regression != (meta.task == data::Task::kRegression)) {
      return InvalidArgument("data.store: " + spec_.data.store + " was prepared for " +
                             (regression ? "classification" : "regression") +
                             " but the spec's task is " + (regression ? "regression" : "classification"));
    }
    RETURN_IF_ERROR(data::LinkStore(spec_.data.store, store_->DataDir()));
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%.1f s", MonotonicSeconds() - t0);
    return "data: linked prepared store " + spec_.data.store + " (" + secs + ")";
  }
  data::PrepareOptions prep;
  prep.num_train_partitions = layout_.partitions;
  prep.num_val_partitions = layout_.partitions;
  prep.seed = spec_.run.seed;
  prep.partitions_field = "run.workers (one partition per worker)";
  prep.progress = options_.prepare_progress;
  ASSIGN_OR_RETURN(data::PreparedStore prepared,
                   data::PrepareCached(ToSourceSpec(spec_), prep, store_->DataDir(),
                                       data::StoreCacheRoot()));
  // Preparing freed a partition's worth of buffers that glibc would otherwise keep in
  // this process's heap for the whole run (measured ~24 MB on the 300K bench set).
  ::malloc_trim(0);
  return prepared.Describe();
}

// The workers come up (LibTorch, BLAS; Ray's head and actors) while the data is
// prepared: Launch() returns at once and StartBackend() waits for both.
Status RunLoop::LaunchBackend() {
  exec::BackendConfig bc;
  bc.kind = std::string(EnumName(spec_.run.backend));
  bc.worker_binary = options_.worker_binary;
  bc.threads_per_worker = spec_.run.threads_per_worker;
  bc.ray_address = spec_.run.ray_address;
  ASSIGN_OR_RETURN(backend_, options_.backend_factory ? options_.backend_factory(bc)
                                                      : exec::MakeBackend(bc));
  Status st = backend_->Launch(static_cast<int>(layout_.worker_partition.size()));
  if (!st.ok()) StopBackend();
  return st;
}

// Launching ahead of preparation saves the workers' start-up only when they can all come
// up at once; hundreds of processes for a machine's few cores (`--workers 500`, say) would
// each load LibTorch before preparation could refuse the run (more partitions than
// examples), so those start after it, as they always did.
bool RunLoop::LaunchesAhead() const {
  const size_t cores = std::max(2u, std::thread::hardware_concurrency());
  return layout_.worker_partition.size() <= cores;
}

void RunLoop::StopBackend() {
  if (!backend_) return;
  backend_->Shutdown();
  backend_.reset();
}

Status RunLoop::StartBackend() {
  if (!backend_) RETURN_IF_ERROR(LaunchBackend());
  std::vector<exec::WorkerSetup> setups;
  for (int p : layout_.worker_partition) setups.push_back({store_->DataDir(), p, p});
  Status st = backend_->Start(setups);
  if (!st.ok()) {
    StopBackend();
    return st;
  }
  for (const auto& w : backend_->warnings()) LogWarning(w);
  worker_dead_.assign(setups.size(), false);
  return Status::Ok();
}

StatusOr<RunResult> RunLoop::RunNew() {
  const double t0 = MonotonicSeconds();
  state_ = std::make_unique<RunState>(MakeRunConfig());
  ASSIGN_OR_RETURN(store::ProcedureDecision start, InitialDecision());
  ASSIGN_OR_RETURN(store_, store::ExperimentStore::Create(fs_, options_.out_dir));
  if (LaunchesAhead()) RETURN_IF_ERROR(LaunchBackend());
  StatusOr<std::string> prepared = Prepare();
  if (!prepared.ok()) {
    StopBackend();  // the unpublished run directory goes with store_
    return prepared.status();
  }
  const std::string data_line = std::move(prepared).value();
  const double i0 = MonotonicSeconds();
  ASSIGN_OR_RETURN(data::StoreIdentity identity, data::ComputeStoreIdentity(store_->DataDir()));
  timing_.integrity_seconds += MonotonicSeconds() - i0;
  RETURN_IF_ERROR(store_->WriteJsonFile("spec.json", spec::ToJson(spec_)));
  RETURN_IF_ERROR(store_->WriteJsonFile("models.json", ModelsJson(start.actions)));
  // The journal's first records, before the run is published: what it trains on, and
  // the search's first decision.
  RETURN_IF_ERROR(Commit(store::DataRecorded{data::ToJson(identity)}));
  RETURN_IF_ERROR(Commit(start));
  RETURN_IF_ERROR(store_->Publish());
  Status st = StartBackend();
  if (!st.ok()) {
    (void)fs_->RemoveAll(store_->dir());  // nothing trained yet: leave no half-made run
    return st;
  }
  LogInfo(data_line);
  timing_.prepare_seconds = MonotonicSeconds() - t0;
  AttachObservers();
  if (spec_.run.strategy == spec::Strategy::kDataParallel) {
    std::vector<store::ModelOutcome> outcomes;
    Status trained = LoopDataParallel(&outcomes);
    return Finish(trained, std::move(outcomes));
  }
  Status trained = Loop();
  return Finish(trained, StateOutcomes());
}

std::vector<store::ModelOutcome> RunLoop::StateOutcomes() const {
  std::vector<store::ModelOutcome> outcomes;
  for (const auto& [id, m] : state_->models()) outcomes.push_back(m.outcome);
  return outcomes;
}

StatusOr<RunResult> RunLoop::Resume(std::unique_ptr<store::ExperimentStore> store,
                                    const spec::Json& models_json) {
  const double t0 = MonotonicSeconds();
  resumed_ = true;
  store_ = std::move(store);
  state_ = std::make_unique<RunState>(MakeRunConfig());
  RETURN_IF_ERROR(ReplayJournal(models_json));
  // Workers come up while the store and the states are verified.
  if (!state_->Done() && LaunchesAhead()) RETURN_IF_ERROR(LaunchBackend());
  RETURN_IF_ERROR(AfterReplay());
  // The driver may have died between an epoch's last unit and the procedure's look at
  // it: nothing was journaled in between, so it sees what it would have seen then.
  RETURN_IF_ERROR(Consult(state_->unconsulted()));
  if (state_->Done()) {
    // A finished run is reported as it is: its summary (with the timing of the run
    // that trained it) is not rewritten.
    auto summary = store::ReadSummary(fs_, store_->dir());
    if (summary.ok() && summary->finished) {
      RunResult r;
      static_cast<store::Summary&>(r) = std::move(summary).value();
      r.run_dir = store_->dir();
      return r;
    }
  }
  if (!state_->Done()) {
    RETURN_IF_ERROR(StartBackend());
  } else {
    StopBackend();  // the procedure ended the run: nothing left to train
  }
  timing_.prepare_seconds = MonotonicSeconds() - t0;
  AttachObservers();
  Status st = Loop();
  return Finish(st, StateOutcomes());
}

// The first release wrote no header and no model_added records: its models are those of
// models.json, added at the start by the search. The journal is upgraded to say so.
Status RunLoop::ReplayJournal(const spec::Json& models_json) {
  ASSIGN_OR_RETURN(store::JournalContents journal, store_->journal().Read());
  const std::string where = store_->journal().path();
  if (journal.version == 1) {
    ASSIGN_OR_RETURN(store::ProcedureDecision start,
                     FirstReleaseStart(models_json, spec_.run.epochs, store_->Path("models.json")));
    journal.records.insert(journal.records.begin(), start);
    journal.lines.insert(journal.lines.begin(), 0);
    RETURN_IF_ERROR(store_->journal().Rewrite(journal.records));
    for (int& line : journal.lines) line = line + 1;  // the header is line 1 now
  }
  std::vector<std::string> obsolete;
  for (size_t i = 0; i < journal.records.size(); ++i) {
    Effects fx;
    Status st = state_->Apply(journal.records[i], &fx);
    if (!st.ok()) return DataLoss(where + ":" + std::to_string(journal.lines[i]) + ": " + st.message());
    obsolete.insert(obsolete.end(), fx.obsolete_states.begin(), fx.obsolete_states.end());
  }
  // Deletions the crash may have cut short; missing files are fine.
  return DeleteStates(obsolete);
}

Status RunLoop::AfterReplay() {
  // The data must be what the run trained on: a re-prepared, swapped or damaged store
  // would silently train the rest of the run on other examples.
  if (!state_->data_identity().is_null()) {
    const double i0 = MonotonicSeconds();
    ASSIGN_OR_RETURN(data::StoreIdentity recorded, data::StoreIdentityFromJson(state_->data_identity()));
    RETURN_IF_ERROR(data::VerifyStoreIdentity(store_->DataDir(), recorded));
    timing_.integrity_seconds += MonotonicSeconds() - i0;
  }
  ASSIGN_OR_RETURN(procedure_, MakeProcedure());
  RETURN_IF_ERROR(procedure_->RestoreState(state_->procedure_state()));
  RETURN_IF_ERROR(RollBackLostStates());
  RETURN_IF_ERROR(RemoveUnnamedStates());
  // Each live model continues from the state its last journaled unit produced: read and
  // verify them now, so a damaged run stops before anything trains.
  for (const auto& [id, m] : state_->models()) {
    if (IsLive(m.outcome.status)) RETURN_IF_ERROR(ReadState(m).status());
  }
  return Status::Ok();
}

// run.checkpoint epoch: a state inside an epoch was in the page cache only, so a power
// loss (or damage) may take it. That model's training in its current epoch is redone
// from its last durable state (a rolled_back record); a durable state that does not
// verify still stops the resume (AfterReplay).
Status RunLoop::RollBackLostStates() {
  std::vector<store::StateRolledBack> lost;
  for (const auto& [id, m] : state_->models()) {
    if (!IsLive(m.outcome.status) || m.outcome.checkpoint.empty() ||
        m.outcome.checkpoint == m.durable_checkpoint) {
      continue;
    }
    Status st = ReadState(m).status();
    if (st.ok()) continue;
    lost.push_back({id, state_->hopper().epochs_done(id), m.outcome.checkpoint, st.message()});
  }
  for (const store::StateRolledBack& r : lost) {
    LogWarning(r.reason + "; it was not durable (run.checkpoint: epoch): model " +
               std::to_string(r.model) + " redoes epoch " + std::to_string(r.epoch + 1) +
               "'s training from its last durable state");
    RETURN_IF_ERROR(Commit(r));
  }
  return Status::Ok();
}

// States written after the last journal line (the crash came between the two) never
// happened; neither did states retention had not yet deleted.
Status RunLoop::RemoveUnnamedStates() {
  auto names = fs_->ListDir(store_->Path("checkpoints"));
  if (!names.ok()) return Status::Ok();  // no checkpoints directory: nothing to remove
  const std::set<std::string> keep = state_->StatesToKeep();
  std::vector<std::string> unnamed;
  for (const auto& n : *names) {
    if (!keep.count("checkpoints/" + n)) unnamed.push_back("checkpoints/" + n);
  }
  return DeleteStates(unnamed);
}

// ---- the record path -----------------------------------------------------------------

Status RunLoop::Commit(const store::Record& record) {
  RETURN_IF_ERROR(store_->journal().Append(record));
  Effects fx;
  Status applied = state_->Apply(record, &fx);
  if (!applied.ok()) return Internal("journaled record did not apply: " + applied.message());
  RETURN_IF_ERROR(DeleteStates(fx.obsolete_states));
  for (ModelId id : fx.status_changed) {
    if (!IsLive(state_->model(id).outcome.status)) states_.erase(id);  // its bytes are not needed again
  }
  RETURN_IF_ERROR(Notify(record, fx));
  RETURN_IF_ERROR(Consult(RunState::Consultation{fx.epoch_finished, fx.ended}));
  return Status::Ok();
}

Status RunLoop::Notify(const store::Record& record, const Effects& fx) {
  if (!observing_) return Status::Ok();
  ScopedSeconds timed(&timing_.observer_seconds);
  const RunView view = View();
  for (RunObserver* o : observers_) {
    if (const auto* unit = std::get_if<store::UnitDone>(&record)) {
      RETURN_IF_ERROR(o->OnUnitDone(view, *unit));
    }
    for (const store::EpochRow& row : fx.epochs_done) RETURN_IF_ERROR(o->OnEpochDone(view, row));
    for (ModelId id : fx.status_changed) RETURN_IF_ERROR(o->OnModelStatus(view, id));
  }
  return Status::Ok();
}

Status RunLoop::DeleteStates(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    for (auto it = states_.begin(); it != states_.end();) {
      it = it->second.first == name ? states_.erase(it) : std::next(it);
    }
    if (fs_->Exists(store_->Path(name))) RETURN_IF_ERROR(store_->RemoveRelative(name));
  }
  return Status::Ok();
}

// ---- training --------------------------------------------------------------------------

Status RunLoop::Loop() {
  start_ = MonotonicSeconds();
  const RunView view = View();
  {
    ScopedSeconds timed(&timing_.observer_seconds);
    for (RunObserver* o : observers_) RETURN_IF_ERROR(o->OnStarted(view));
  }
  observing_ = true;
  if (options_.serve_control && commands_ == nullptr) {
    // `cerebro ctl` can steer the run from now on (driver/control_server.h).
    ASSIGN_OR_RETURN(control_, ControlServer::Start(store_->dir()));
    commands_ = control_.get();
  }
  const Wakeup* wake = commands_ != nullptr ? &commands_->wakeup() : nullptr;
  if (wake != nullptr && wake->Drain()) RETURN_IF_ERROR(TakeCommands());
  RETURN_IF_ERROR(DispatchAll());
  while (!state_->Done()) {
    if (in_flight_ == 0) {
      return Internal("no live worker can run the remaining " +
                      std::to_string(state_->hopper().units_remaining()) + " units");
    }
    const double d0 = MonotonicSeconds();
    const double timeout = SecondsToNextDeadline();
    timing_.integrity_seconds += MonotonicSeconds() - d0;
    ASSIGN_OR_RETURN(std::optional<exec::Completion> c, backend_->WaitFor(wake, timeout));
    if (c) {
      RETURN_IF_ERROR(Handle(std::move(*c)));
    } else {  // woken by a command, or a unit's deadline passed
      if (wake != nullptr) RETURN_IF_ERROR(TakeCommands());
      RETURN_IF_ERROR(ReplaceHungWorkers());
    }
    // A completion frees a worker and a model, a command may add work: dispatch again.
    RETURN_IF_ERROR(DispatchAll());
  }
  timing_.wall_seconds = MonotonicSeconds() - start_;
  return Status::Ok();
}

// When processes outnumber the concurrency, each round starts at a different process so
// no partition is favoured.
Status RunLoop::DispatchAll() {
  if (!backend_) return Status::Ok();
  const int workers = backend_->num_workers();
  for (int k = 0; k < workers; ++k) RETURN_IF_ERROR(Dispatch((first_worker_ + k) % workers));
  first_worker_ = (first_worker_ + 1) % std::max(workers, 1);
  return Status::Ok();
}

Status RunLoop::Dispatch(WorkerId w) {
  if (in_flight_ >= layout_.concurrency || worker_dead_[w]) return Status::Ok();
  std::optional<sched::Unit> u = state_->StartUnit(w);
  if (!u) return Status::Ok();
  const ModelRun& m = state_->model(u->model);
  exec::UnitRequest req;
  req.unit = *u;
  req.model_config_json = m.config_json;
  req.init_seed = DeriveSeed(spec_.run.seed, "model.init", {static_cast<uint64_t>(u->model)});
  req.unit_seed = DeriveSeed(spec_.run.seed, "unit",
                             {static_cast<uint64_t>(u->model), static_cast<uint64_t>(u->epoch),
                              static_cast<uint64_t>(u->kind), static_cast<uint64_t>(u->partition)});
  if (backend_->WritesCheckpoints()) {
    // The state moves once: the worker reads the model's checkpoint itself (verified
    // against the journal's size and hash) and writes the next one.
    if (!m.outcome.checkpoint.empty()) {
      req.state_path = AbsoluteRunPath(m.outcome.checkpoint);
      req.state_size = m.state_size;
      req.state_hash = m.state_hash;
    }
    if (u->kind == UnitKind::kTrain) {
      req.out_path = AbsoluteRunPath(store::ExperimentStore::CheckpointName(u->model, m.train_seq + 1));
      req.durable = DurableState(*u);
    }
  } else {
    ASSIGN_OR_RETURN(req.state, StateFor(m));
  }
  RETURN_IF_ERROR(backend_->Submit(req));
  ++in_flight_;
  running_[w] = {*u, Now()};
  submitted_wall_[w] = WallSeconds();
  return Status::Ok();
}

Status RunLoop::Handle(exec::Completion c) {
  const sched::Unit& u = c.unit;
  auto running = running_.find(u.worker);
  if (running == running_.end() || running->second.first.model != u.model ||
      running->second.first.epoch != u.epoch || running->second.first.kind != u.kind ||
      running->second.first.partition != u.partition) {
    // Not the unit this worker runs: a late answer from a worker already replaced as hung.
    LogWarning("ignoring a late result from worker " + std::to_string(u.worker));
    return Status::Ok();
  }
  const double seconds = Now() - running->second.second;
  running_.erase(running);
  --in_flight_;
  timing_.compute_seconds += c.compute_seconds;
  timing_.transfer_seconds += c.transfer_seconds;
  timing_.state_codec_seconds += c.state_seconds;
  timing_.checkpoint_seconds += c.file_seconds;
  if (c.kind == exec::CompletionKind::kOk) RecordUnitSeconds(u, seconds);
  if (!IsLive(state_->model(u.model).outcome.status)) {
    // Its model failed or was stopped while the unit ran: nothing more to record, and
    // the state its worker wrote is named by no journal line.
    if (c.state_written) {
      RETURN_IF_ERROR(DeleteStates(
          {store::ExperimentStore::CheckpointName(u.model, state_->model(u.model).train_seq + 1)}));
    }
    state_->DiscardUnit(u);
    return c.kind == exec::CompletionKind::kWorkerLost ? RestartWorker(u.worker) : Status::Ok();
  }
  if (c.kind == exec::CompletionKind::kOk) return HandleSuccess(c);
  // A state file that cannot be read, verified or written is the run directory's fault:
  // the run stops here, resumable, as when the driver's own write fails (failing the
  // model would lose its completed units; retrying would read the same file again). A
  // file that is really damaged is then named again by resume's own verification.
  if (c.kind == exec::CompletionKind::kStorageFailed) {
    return IoError("model " + std::to_string(u.model) + ": " + c.error);
  }
  return HandleFailure(c);
}

Status RunLoop::HandleSuccess(exec::Completion& c) {
  const sched::Unit& u = c.unit;
  const ModelRun& m = state_->model(u.model);
  store::UnitDone r{u.model,         u.epoch,         u.kind,  u.partition, u.worker, c.loss_sum,
                    c.correct,       c.num_examples,  c.compute_seconds, "", 0, 0};
  r.submitted_at = submitted_wall_[u.worker];
  r.finished_at = WallSeconds();
  if (u.kind == UnitKind::kTrain && c.state_written) {
    timing_.train_examples += c.num_examples;
    // The worker wrote the state (fsync'd when the request said durable) before it
    // answered, so the journal still names only what is on disk.
    r.checkpoint = store::ExperimentStore::CheckpointName(u.model, m.train_seq + 1);
    r.state_size = c.state_size;
    r.state_hash = c.state_hash;
    r.durable = DurableState(u);  // what Dispatch asked for: the model did not change since
    states_.erase(u.model);  // bytes read for a warm start are of an older state
  } else if (u.kind == UnitKind::kTrain) {
    timing_.train_examples += c.num_examples;
    auto previous = states_.find(u.model);
    timing_.state_bytes_moved +=
        c.state.size() + (previous != states_.end() && previous->second.second ? previous->second.second->size() : 0);
    auto bytes = std::make_shared<const std::string>(std::move(c.state));
    const double t0 = MonotonicSeconds();
    // Durable order: the new state is on disk before the journal names it; the old one
    // goes only after (Commit deletes what the record made obsolete).
    ASSIGN_OR_RETURN(r.checkpoint, store_->WriteCheckpoint(u.model, m.train_seq + 1, *bytes));
    timing_.checkpoint_seconds += MonotonicSeconds() - t0;
    const double h0 = MonotonicSeconds();
    r.state_size = bytes->size();
    r.state_hash = Hash64(bytes->data(), bytes->size());
    timing_.integrity_seconds += MonotonicSeconds() - h0;
    states_[u.model] = {r.checkpoint, std::move(bytes)};
  }
  return Commit(r);
}

Status RunLoop::HandleFailure(const exec::Completion& c) {
  const sched::Unit& u = c.unit;
  const std::string cause(EnumName(c.cause));
  switch (c.kind) {
    case exec::CompletionKind::kWorkerLost:
      LogWarning(c.error + "; re-queueing model " + std::to_string(u.model) + " epoch " +
                 std::to_string(u.epoch + 1) + " partition " + std::to_string(u.partition) +
                 " from its last state");
      RETURN_IF_ERROR(Commit(store::WorkerLost{u.worker, u.model, u.epoch, u.partition, c.error, cause}));
      return RestartWorker(u.worker);
    case exec::CompletionKind::kRetry:
      LogWarning(c.error + "; retrying model " + std::to_string(u.model) + " epoch " +
                 std::to_string(u.epoch + 1) + " partition " + std::to_string(u.partition));
      return Commit(store::UnitRetried{u.worker, u.model, u.epoch, u.partition, c.error, cause});
    default:
      state_->DiscardUnit(u);
      LogWarning("model " + std::to_string(u.model) + " failed: " + c.error);
      return Commit(store::ModelFailed{u.model, c.error, cause});
  }
}

Status RunLoop::RestartWorker(WorkerId w) {
  Status st = backend_->RestartWorker(w);
  if (!st.ok()) {
    LogError("worker " + std::to_string(w) + " could not be restarted: " + st.message());
    state_->WorkerGone(w);
    worker_dead_[w] = true;
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<const std::string>> RunLoop::StateFor(const ModelRun& m) {
  const std::string& name = m.outcome.checkpoint;
  if (name.empty()) return std::shared_ptr<const std::string>();  // fresh weights
  auto cached = states_.find(m.outcome.id);
  if (cached != states_.end() && cached->second.first == name) return cached->second.second;
  ASSIGN_OR_RETURN(std::shared_ptr<const std::string> state, ReadState(m));
  states_[m.outcome.id] = {name, state};
  return state;
}

bool RunLoop::DurableState(const sched::Unit& u) const {
  return spec_.run.checkpoint == spec::CheckpointPolicy::kUnit || state_->EndsEpochTraining(u);
}

StatusOr<std::shared_ptr<const std::string>> RunLoop::ReadState(const ModelRun& m) {
  const std::string& name = m.outcome.checkpoint;
  if (name.empty()) return std::shared_ptr<const std::string>();
  const std::string model = "model " + std::to_string(m.outcome.id);
  auto bytes = store_->ReadFile(name);
  if (!bytes.ok()) return DataLoss(model + ": " + bytes.status().message());
  const double h0 = MonotonicSeconds();
  Status matches = train::VerifyStateBytes(store_->Path(name), *bytes, m.state_size, m.state_hash);
  timing_.integrity_seconds += MonotonicSeconds() - h0;
  if (!matches.ok()) return DataLoss(model + ": " + matches.message());
  return std::make_shared<const std::string>(std::move(bytes).value());
}

std::string RunLoop::AbsoluteRunPath(const std::string& relative) const {
  // Workers may run elsewhere than the driver's working directory (Ray actors do).
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(store_->Path(relative), ec);
  return ec ? store_->Path(relative) : abs.string();
}

Status RunLoop::LoopDataParallel(std::vector<store::ModelOutcome>* outcomes) {
  start_ = MonotonicSeconds();
  const RunView view = View();
  for (RunObserver* o : observers_) RETURN_IF_ERROR(o->OnStarted(view));
  std::vector<const ModelRun*> models;
  for (const auto& [id, m] : state_->models()) models.push_back(&m);
  DataParallelRun run{spec_, *store_, *backend_, timing_, layout_.partitions};
  ASSIGN_OR_RETURN(*outcomes, TrainDataParallel(run, models));
  timing_.wall_seconds = MonotonicSeconds() - start_;
  return Status::Ok();
}

// ---- the end ---------------------------------------------------------------------------

StatusOr<RunResult> RunLoop::Finish(Status loop_status,
                                    std::vector<store::ModelOutcome> outcomes) {
  if (control_) {  // no more commands: those still queued are told the run ended
    commands_ = nullptr;
    control_.reset();
  }
  if (backend_) backend_->Shutdown();
  auto bytes = store_->CheckpointBytes();
  timing_.checkpoint_bytes = bytes.ok() ? *bytes : 0;
  RunResult r;
  static_cast<store::Summary&>(r) = BuildSummary(spec_, layout_, std::move(outcomes), timing_);
  r.finished = loop_status.ok();
  r.run_dir = store_->dir();
  r.warnings = backend_ ? backend_->warnings() : std::vector<std::string>{};
  const RunView view = View();
  for (RunObserver* o : observers_) RETURN_IF_ERROR(o->OnFinished(view, loop_status, r));
  RETURN_IF_ERROR(loop_status);
  return r;
}

}  // namespace cerebro::driver

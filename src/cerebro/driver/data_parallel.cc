#include "cerebro/driver/data_parallel.h"

#include <cmath>
#include <memory>
#include <string>

#include "cerebro/common/clock.h"
#include "cerebro/common/logging.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/driver/epoch_metrics.h"
#include "cerebro/driver/ranking.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::driver {
namespace {

// One model's training under the baseline.
class DataParallelModel {
 public:
  DataParallelModel(const DataParallelRun& run, const ModelRun& m, int64_t outputs,
                    std::vector<int64_t> feature_shape)
      : run_(run), outputs_(outputs), feature_shape_(std::move(feature_shape)), config_(m.config_json) {
    outcome_ = m.outcome;
    outcome_.status = ModelStatus::kRunning;
  }

  // Every epoch; stops at the model's first failure.
  Status Train() {
    for (int e = 0; e < run_.spec.run.epochs && outcome_.status != ModelStatus::kFailed; ++e) {
      EpochAccumulator acc(run_.partitions);
      for (UnitKind kind : {UnitKind::kTrain, UnitKind::kEval}) {
        std::vector<exec::Completion> done;
        ASSIGN_OR_RETURN(bool ok, RunStep(e, kind, &done));
        if (!ok) break;
        ASSIGN_OR_RETURN(std::string checkpoint, kind == UnitKind::kTrain ? Average(done)
                                                                          : std::string());
        if (outcome_.status == ModelStatus::kFailed) break;
        RETURN_IF_ERROR(Record(e, kind, done, checkpoint, &acc));
      }
      if (outcome_.status == ModelStatus::kFailed) break;
      store::EpochRow row = acc.Close(outcome_.id, e);
      outcome_.history.push_back(row);
      if (!std::isfinite(row.val_loss)) Fail("non-finite validation loss after epoch " + std::to_string(row.epoch));
    }
    if (outcome_.status != ModelStatus::kFailed) outcome_.status = ModelStatus::kCompleted;
    return Status::Ok();
  }
  const store::ModelOutcome& outcome() const { return outcome_; }

 private:
  void Fail(const std::string& why) {
    outcome_.status = ModelStatus::kFailed;
    outcome_.failure = why;
    LogWarning("model " + std::to_string(outcome_.id) + " failed: " + why);
  }

  exec::UnitRequest Request(int epoch, UnitKind kind, int p) const {
    exec::UnitRequest req;
    req.unit = sched::Unit{outcome_.id, epoch, kind, p, /*worker=*/p};
    req.model_config_json = config_;
    req.init_seed = DeriveSeed(run_.spec.run.seed, "model.init", {static_cast<uint64_t>(outcome_.id)});
    req.unit_seed = DeriveSeed(run_.spec.run.seed, "unit",
                               {static_cast<uint64_t>(outcome_.id), static_cast<uint64_t>(epoch),
                                static_cast<uint64_t>(kind), static_cast<uint64_t>(p)});
    req.state = state_;
    return req;
  }

  // All partitions at once from the same state; a lost worker's unit is re-run (up to
  // run.max_unit_retries). Fills `done` by partition; false if the model failed.
  StatusOr<bool> RunStep(int epoch, UnitKind kind, std::vector<exec::Completion>* done) {
    done->assign(static_cast<size_t>(run_.partitions), exec::Completion{});
    // Wall times for the journal (cerebro status reads each worker's busy time from them).
    submitted_at_.assign(static_cast<size_t>(run_.partitions), WallSeconds());
    finished_at_.assign(static_cast<size_t>(run_.partitions), 0.0);
    for (int p = 0; p < run_.partitions; ++p) RETURN_IF_ERROR(run_.backend.Submit(Request(epoch, kind, p)));
    int pending = run_.partitions;
    std::string error;
    while (pending > 0) {
      ASSIGN_OR_RETURN(std::optional<exec::Completion> c, run_.backend.WaitAny(nullptr));
      if (!c) continue;
      run_.timing.compute_seconds += c->compute_seconds;
      run_.timing.transfer_seconds += c->transfer_seconds;
      run_.timing.state_codec_seconds += c->state_seconds;
      const int p = c->unit.partition;
      const bool retryable = c->kind == exec::CompletionKind::kWorkerLost ||
                             c->kind == exec::CompletionKind::kRetry;
      if (retryable) {
        RETURN_IF_ERROR(run_.store.journal().Append(store::WorkerLost{
            c->unit.worker, outcome_.id, epoch, p, c->error, std::string(EnumName(c->cause))}));
        if (c->kind == exec::CompletionKind::kWorkerLost) RETURN_IF_ERROR(run_.backend.RestartWorker(p));
        if (++failures_ <= run_.spec.run.max_unit_retries) {
          submitted_at_[static_cast<size_t>(p)] = WallSeconds();
          RETURN_IF_ERROR(run_.backend.Submit(Request(epoch, kind, p)));  // same unit, same state
          continue;
        }
        error = "its units failed " + std::to_string(failures_) + " times; last: " + c->error;
      } else if (c->kind == exec::CompletionKind::kModelFailed && error.empty()) {
        error = c->error;
      }
      finished_at_[static_cast<size_t>(p)] = WallSeconds();
      (*done)[static_cast<size_t>(p)] = std::move(*c);
      --pending;
    }
    if (!error.empty()) Fail(error);
    return error.empty();
  }

  // Model averaging: the element-wise mean of the partitions' states, in partition order
  // (deterministic). Returns the checkpoint it wrote.
  StatusOr<std::string> Average(const std::vector<exec::Completion>& done) {
    double t0 = MonotonicSeconds();
    std::vector<const uint8_t*> ptrs;
    std::vector<size_t> sizes;
    for (const auto& c : done) {
      ptrs.push_back(reinterpret_cast<const uint8_t*>(c.state.data()));
      sizes.push_back(c.state.size());
      run_.timing.train_examples += c.num_examples;
      run_.timing.state_bytes_moved += c.state.size() + (state_ ? state_->size() : 0);
    }
    uint8_t* avg = nullptr;
    size_t avg_size = 0;
    char err[512] = {0};
    int rc = cerebro_average_states(config_.c_str(), feature_shape_.data(),
                                    static_cast<int>(feature_shape_.size()), outputs_, ptrs.data(),
                                    sizes.data(), run_.partitions, &avg, &avg_size, err, sizeof(err));
    if (rc != CEREBRO_OK) {
      Fail(std::string("averaging states: ") + err);
      return std::string();
    }
    state_ = std::make_shared<const std::string>(reinterpret_cast<const char*>(avg), avg_size);
    cerebro_buffer_free(avg);
    run_.timing.state_codec_seconds += MonotonicSeconds() - t0;
    t0 = MonotonicSeconds();
    ASSIGN_OR_RETURN(std::string name, run_.store.WriteCheckpoint(outcome_.id, ++train_seq_, *state_));
    run_.timing.checkpoint_seconds += MonotonicSeconds() - t0;
    return name;
  }

  // Journals the step's units (the averaged state named with the last one) and rotates
  // the checkpoint.
  Status Record(int epoch, UnitKind kind, const std::vector<exec::Completion>& done,
                const std::string& checkpoint, EpochAccumulator* acc) {
    const uint64_t hash = checkpoint.empty() ? 0 : Hash64(state_->data(), state_->size());
    for (int p = 0; p < run_.partitions; ++p) {
      const exec::Completion& c = done[static_cast<size_t>(p)];
      store::UnitDone r{outcome_.id, epoch, kind, p, c.unit.worker, c.loss_sum, c.correct,
                        c.num_examples, c.compute_seconds, "", 0, 0};
      r.submitted_at = submitted_at_[static_cast<size_t>(p)];
      r.finished_at = finished_at_[static_cast<size_t>(p)];
      if (!checkpoint.empty()) {  // every partition's unit produced the averaged state
        r.checkpoint = checkpoint;
        r.state_size = state_->size();
        r.state_hash = hash;
      }
      RETURN_IF_ERROR(run_.store.journal().Append(r));
      acc->Add(kind, p, c.unit.worker, c.loss_sum, c.correct, c.num_examples, c.compute_seconds);
      if (kind == UnitKind::kTrain) ++outcome_.train_units;
      else ++outcome_.eval_units;
    }
    if (!checkpoint.empty()) {
      if (!outcome_.checkpoint.empty()) RETURN_IF_ERROR(run_.store.RemoveRelative(outcome_.checkpoint));
      outcome_.checkpoint = checkpoint;
    }
    return Status::Ok();
  }

  const DataParallelRun& run_;
  const int64_t outputs_;
  const std::vector<int64_t> feature_shape_;
  const std::string config_;
  store::ModelOutcome outcome_;
  std::shared_ptr<const std::string> state_;
  int train_seq_ = 0;
  int failures_ = 0;
  std::vector<double> submitted_at_, finished_at_;  // by partition, of the current step
};

// Keeps the final states of the best keep_best finished models, and failed models'
// only when asked (keep_failed).
Status Retain(const DataParallelRun& run, std::vector<store::ModelOutcome>* models) {
  std::vector<store::ModelOutcome> ranked = *models;
  RankModels(&ranked, spec::Objectives(run.spec));
  int kept = 0;
  for (const store::ModelOutcome& r : ranked) {
    const bool failed = r.status == ModelStatus::kFailed;
    const bool keep = failed ? run.spec.run.keep_failed : kept++ < run.spec.run.keep_best;
    if (keep || r.checkpoint.empty()) continue;
    RETURN_IF_ERROR(run.store.RemoveRelative(r.checkpoint));
    for (store::ModelOutcome& m : *models) {
      if (m.id == r.id) m.checkpoint.clear();
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<store::ModelOutcome>> TrainDataParallel(const DataParallelRun& run,
                                                             const std::vector<const ModelRun*>& models) {
  ASSIGN_OR_RETURN(data::StoreMeta meta, data::ReadStoreMeta(run.store.DataDir()));
  const int64_t outputs = meta.task == data::Task::kClassification ? meta.num_classes : 1;
  std::vector<store::ModelOutcome> outcomes;
  for (const ModelRun* m : models) {
    DataParallelModel model(run, *m, outputs, meta.feature_shape);
    RETURN_IF_ERROR(model.Train());
    outcomes.push_back(model.outcome());
  }
  RETURN_IF_ERROR(Retain(run, &outcomes));
  return outcomes;
}

}  // namespace cerebro::driver

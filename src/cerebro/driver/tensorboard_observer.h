// TensorBoardObserver: writes RUN_DIR/tensorboard/ from the run's records — per model its
// own TensorBoard run (model_NNNN) with per-epoch scalars at step = epoch and the hparams
// plugin's session start/end info, plus the experiment summary once in the root run.
// Owns its event-file writers; used by the loop's thread only.
//
// TensorBoard keeps only the first metadata per tag per run, so a model that continues in
// a later process (resume) gets a NEW run, model_NNNN.resumeK, rebuilt from the replayed
// history; its session's group_name is model_NNNN, so the hparams plugin groups the two.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cerebro/driver/run_observer.h"
#include "cerebro/store/tensorboard.h"

namespace cerebro::driver {

class TensorBoardObserver final : public RunObserver {
 public:
  Status OnStarted(const RunView& run) override;
  Status OnEpochDone(const RunView& run, const store::EpochRow& row) override;
  Status OnModelStatus(const RunView& run, ModelId id) override;
  Status OnFinished(const RunView& run, const Status& loop, const store::Summary& s) override;

  // Seconds this observer spent in its callbacks (encoding and writing), for the cost
  // measurement in bench/.
  double seconds() const { return seconds_; }

 private:
  struct ModelRun {
    std::unique_ptr<store::tensorboard::EventFileWriter> writer;
    bool ended = false;  // session_end_info written
  };
  Status Started(const RunView& run);
  // The model's run, created (with its session_start_info) on first use.
  StatusOr<ModelRun*> Run(const RunView& run, ModelId id);
  // session_end_info, once, when the model's status is final.
  Status EndIfFinal(const RunView& run, ModelId id, ModelRun* m);

  std::string root_;  // RUN_DIR/tensorboard; "" when the run has no directory
  std::map<ModelId, ModelRun> runs_;
  double seconds_ = 0;
};

}  // namespace cerebro::driver

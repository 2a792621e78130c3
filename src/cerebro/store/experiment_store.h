// ExperimentStore: one directory per run, written so that a crash at any instant
// leaves either the previous or the next consistent state, never a torn file.
//
//   RUN_DIR/spec.json          the resolved spec (defaults filled in, CLI overrides applied)
//   RUN_DIR/models.json        every generated configuration: [{"id", "params"}]
//   RUN_DIR/data/              the partitioned store (data/partition_store.h)
//   RUN_DIR/journal.jsonl      append-only, fsync'd: one typed record per change of the
//                              run's state (store/journal.h): the source of truth
//   RUN_DIR/checkpoints/model_NNNN.uKKKKK.state  model+optimizer state after the model's
//                              K-th training unit; written atomically *before* the journal
//                              line naming it, and the previous one deleted after it, so the
//                              journal always names a state that is on disk
//   RUN_DIR/metrics.csv        one row per model per epoch: losses, accuracies, examples
//   RUN_DIR/metrics.jsonl      the same rows as JSON, with the epoch's realized order.
//                              Neither holds timing or worker placement (those are in the
//                              journal and summary), so with order: fixed both files are a
//                              function of the seed alone, whatever the worker count.
//   RUN_DIR/summary.json       ranked models, best model, metric direction
//   RUN_DIR/tensorboard/       TensorBoard event files (an observer's; store/tensorboard.h)
//   RUN_DIR/lock               the RunLock of the process that writes the run
//   RUN_DIR/control            while the run serves `cerebro ctl`: its socket's path
//
// A new store is built in RUN_DIR.partial-<pid> and only appears under RUN_DIR once
// Publish() is called (after input validation and data preparation succeeded), so bad
// input never leaves a half-made run directory. A store that writes holds the
// directory's RunLock (RUN_DIR/lock) for its whole life, so two processes never write one
// run. Not thread-safe: the driver's loop owns it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/epoch_row.h"
#include "cerebro/store/journal.h"
#include "cerebro/store/run_lock.h"

namespace cerebro::store {

class ExperimentStore {
 public:
  // Starts a new experiment that will live at `dir`. Fails with AlreadyExists if `dir`
  // exists. Everything is written to a staging directory until Publish().
  static StatusOr<std::unique_ptr<ExperimentStore>> Create(FileSystem* fs, const std::string& dir);
  // Whether opening a run directory takes its RunLock (store/run_lock.h).
  enum class Lock {
    kNone,  // read only: report, replay's source
    kTry,   // to write: FailedPrecondition naming the holder when another process has it
    kWait,  // to write: block until the holder is gone
  };
  // Opens an existing (published) run directory, to continue writing to it unless
  // `lock` is kNone (then nothing may be written through the store).
  static StatusOr<std::unique_ptr<ExperimentStore>> Open(FileSystem* fs, const std::string& dir,
                                                         Lock lock);
  // Removes the staging directory if Publish() was never called.
  ~ExperimentStore();

  ExperimentStore(const ExperimentStore&) = delete;
  ExperimentStore& operator=(const ExperimentStore&) = delete;

  // Moves the staging directory to its final name.
  Status Publish();
  bool published() const { return published_; }

  // The current path of the run directory (staging before Publish()).
  const std::string& dir() const { return dir_; }
  std::string DataDir() const { return JoinPath(dir_, "data"); }
  // "checkpoints/model_0003.u00012.state": relative to dir().
  static std::string CheckpointName(int model_id, int unit_seq);
  std::string Path(const std::string& relative) const { return JoinPath(dir_, relative); }

  Status WriteJsonFile(const std::string& name, const Json& value);
  StatusOr<std::string> ReadFile(const std::string& relative);
  // RUN_DIR/journal.jsonl (store/journal.h); follows the directory through Publish().
  Journal& journal() { return journal_; }
  // Writes the state durably under CheckpointName(model_id, unit_seq); returns that name.
  StatusOr<std::string> WriteCheckpoint(int model_id, int unit_seq, std::string_view state);
  Status RemoveRelative(const std::string& relative);
  Status AppendEpochRow(const EpochRow& row);
  // Replaces metrics.csv and metrics.jsonl with exactly these rows (used by resume, which
  // rebuilds them from the journal).
  Status RewriteEpochRows(const std::vector<EpochRow>& rows);

  // Bytes used by checkpoints right now.
  StatusOr<uint64_t> CheckpointBytes();

 private:
  ExperimentStore(FileSystem* fs, std::string final_dir, std::string staging_dir,
                  std::unique_ptr<RunLock> lock);
  static std::string CsvHeader();
  static std::string CsvLine(const EpochRow& row);
  static std::string JsonLine(const EpochRow& row);

  FileSystem* fs_;
  std::string final_dir_;
  std::string dir_;
  bool published_ = false;
  Journal journal_;
  std::unique_ptr<RunLock> lock_;  // null when opened to read
};

}  // namespace cerebro::store

// The journal: every change of a run's state is one typed record, appended durably
// (fsync) to RUN_DIR/journal.jsonl before it takes effect. The journal is the source of
// truth: the run loop applies each record after appending it, and resume replays the
// same records through the same Apply (driver/run_state.h), so there is no "restoring"
// mode anywhere. Everything else in the run directory (metrics files, summary.json) is
// derived from it.
//
// Format: JSON lines. Line 1 of a journal written by this release is the header
// {"type":"journal","version":2}; a journal without a header is version 1 (the first
// release, whose records were "unit", "worker_lost" and "model_failed"; its models came
// from models.json). Each record's "type" is its tag: stable, never renamed or reused.
// Unknown tags and versions are refused naming the line. Value types; the codec is
// stateless and thread-safe; a Journal is used by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/ids.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::store {

inline constexpr int kJournalVersion = 2;

// Tag "journal": the first line; says which version the rest is written in.
struct JournalHeader {
  int version = kJournalVersion;
};

// Tag "data": the prepared store the run trains on (data/store_identity.h's JSON form:
// how it was made, every file's size and hash), written before training starts; resume
// refuses a store that no longer matches it.
struct DataRecorded {
  spec::Json identity;
};

// Tag "unit": a unit finished; its model's state (train units) is on disk: durably
// unless `durable` says otherwise.
struct UnitDone {
  ModelId model = -1;
  int epoch = 0;  // 0-based
  UnitKind kind = UnitKind::kTrain;
  int partition = 0;
  WorkerId worker = -1;
  double loss_sum = 0;
  double correct = 0;
  int64_t examples = 0;
  double compute_seconds = 0;
  std::string checkpoint;      // train units: the state file, relative to the run dir
  uint64_t state_size = 0;     // its size in bytes (0 = not recorded: version 1)
  uint64_t state_hash = 0;     // Hash64 of its bytes (common/rng.h), with state_size
  // Wall-clock seconds (Unix time) when the driver submitted the unit and when its result
  // came back: for timelines of the run (per-worker Gantt charts). 0 = not recorded
  // (version 1, or the data-parallel baseline). Never part of the metrics files.
  double submitted_at = 0;
  double finished_at = 0;
  // Whether the state was fsync'd before this record (run.checkpoint: epoch writes a state
  // inside an epoch to the page cache only). Absent = true.
  bool durable = true;
};

// Tag "worker_lost": a unit's worker died (or stopped answering); the unit re-runs from
// the model's last state. Counts against run.max_unit_retries.
struct WorkerLost {
  WorkerId worker = -1;
  ModelId model = -1;
  int epoch = 0;
  int partition = 0;
  std::string error;
  std::string cause;  // exec::FailureCause's name; "" in version 1
};

// Tag "unit_retried": a unit failed in a retryable way with its worker alive (e.g. the
// state arrived corrupted); it re-runs. Counts against run.max_unit_retries.
struct UnitRetried {
  WorkerId worker = -1;
  ModelId model = -1;
  int epoch = 0;
  int partition = 0;
  std::string error;
  std::string cause;
};

// Tag "model_failed": the model cannot go on.
struct ModelFailed {
  ModelId model = -1;
  std::string reason;
  std::string cause;  // "" when not from a unit (e.g. averaging failed)
};

// Why a model was stopped early.
enum class StopReason { kProcedure, kUser, kBudget };

// Tag "model_added": a model joins the run with `epochs` epochs to train. With a
// warm_start the model starts from that state file (a copy of another model's state,
// made durable before this record) instead of fresh weights.
struct ModelAdded {
  ModelId model = -1;
  spec::Json params;  // flat object: the model's hyperparameters
  ModelOrigin origin = ModelOrigin::kSearch;
  int epochs = 0;
  ModelId parent = -1;     // cloned or warm-started from; -1 if none
  std::string warm_start;  // state file relative to the run dir; "" = fresh weights
};

// Tag "model_stopped": a live model ends before its epoch budget.
struct ModelStopped {
  ModelId model = -1;
  StopReason reason = StopReason::kProcedure;
  std::string detail;
};

// Tag "model_extended": a model's epoch budget becomes `epochs` (total, not added).
struct ModelExtended {
  ModelId model = -1;
  int epochs = 0;
  ModelOrigin origin = ModelOrigin::kProcedure;
};

// Tag "rolled_back": on resume, the model's latest state (not durable: run.checkpoint
// epoch) was lost or damaged, so the training units of its current epoch run again from
// its last durable state (the state before them, kept by retention for this).
struct StateRolledBack {
  ModelId model = -1;
  int epoch = 0;           // 0-based: the epoch whose training units are redone
  std::string checkpoint;  // the state that was lost
  std::string reason;      // one line: why it did not verify
};

// A procedure's decision, applied atomically (one record).
using Action = std::variant<ModelAdded, ModelStopped, ModelExtended>;

// Tag "decision": what a search procedure decided after seeing `epochs_seen` completed
// model-epochs (0 = at the start), the actions it took, and its own state after deciding
// (opaque to everything but the procedure, which restores from it on resume instead of
// deciding again).
struct ProcedureDecision {
  int64_t epochs_seen = 0;
  std::vector<Action> actions;
  spec::Json state;
};

using Record = std::variant<JournalHeader, DataRecorded, UnitDone, WorkerLost, UnitRetried,
                            ModelFailed, ModelAdded, ModelStopped, ModelExtended,
                            ProcedureDecision, StateRolledBack>;

// The record's tag ("unit", "model_added", ...).
std::string_view RecordTag(const Record& record);

// One line of journal.jsonl (no trailing newline).
std::string EncodeRecord(const Record& record);
// Parses one line written in journal `version`. InvalidArgument naming the field on a
// malformed record, the tag on an unknown one (the caller adds file and line).
StatusOr<Record> DecodeRecord(std::string_view line, int version);

struct JournalContents {
  int version = kJournalVersion;  // 1 when the journal has no header
  std::vector<Record> records;    // without the header
  std::vector<int> lines;         // the line number of each record, for messages
};

// Appends to and reads RUN_DIR/journal.jsonl through a FileSystem.
class Journal {
 public:
  Journal(FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  // The directory holding the journal was renamed (ExperimentStore::Publish).
  void Relocate(std::string path) { path_ = std::move(path); }

  // Reads the journal (a missing file is an empty version-2 journal). A torn final line
  // (the writer died mid-append) never happened: it is dropped and the file truncated to
  // the last whole record. A corrupt line elsewhere, an unknown tag or a version newer
  // than kJournalVersion is DataLoss "journal.jsonl:N: ...".
  StatusOr<JournalContents> Read();
  // Reads as Read() does but never writes, for readers of a run another process may be
  // appending to (cerebro status): a torn final line is skipped, the file left as it is.
  StatusOr<JournalContents> ReadOnly() const;

  // Appends one record durably: when this returns OK the record survives a crash. A
  // journal that is empty gets the header first. Call Read() first on an existing
  // journal (a version-1 journal must be upgraded with Rewrite before appending).
  Status Append(const Record& record);

  // Replaces the journal atomically with a header and `records` (resume upgrades a
  // version-1 journal this way; a crash leaves the old or the new file, never a mix).
  Status Rewrite(const std::vector<Record>& records);

 private:
  FileSystem* fs_;
  std::string path_;
  bool has_header_ = false;  // known to start with a header (or to have been read)
  // Read() and ReadOnly(): with `repair`, a torn final line is truncated away. Sets
  // *whole_lines to whether any whole line was read.
  StatusOr<JournalContents> Parse(bool repair, bool* whole_lines) const;
};

}  // namespace cerebro::store

namespace cerebro {
template <>
struct EnumNames<store::StopReason> {
  static constexpr NamedValue<store::StopReason> kTable[] = {
      {store::StopReason::kProcedure, "procedure"},
      {store::StopReason::kUser, "user"},
      {store::StopReason::kBudget, "budget"}};
};
}  // namespace cerebro

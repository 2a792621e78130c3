// `cerebro export RUN_DIR [--model ID] --out FILE`: a finished model of a run (the best by
// default: rank 1 of driver/ranking.h's rule, as `cerebro report` shows it) as a
// TorchScript file for torch.jit.load, with the feature scaling folded in
// (docs/export.md). And what export and predict share: finding the model in the run
// directory, its state checked against the journal's recorded size and hash (as resume
// does). Reads the run directory only; never locks it. Stateless; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "cerebro/cli/flags.h"
#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"
#include "cerebro/train/export_model.h"

namespace cerebro::cli {

// A finished model of a run, with its state bytes loaded and verified.
struct RunModel {
  std::string run_dir;
  store::ModelOutcome outcome;  // id, params, status, history, checkpoint
  std::string config_json;      // the params as the trainer reads them
  std::string metric;           // the run's ranking metric ("accuracy", "loss")
  double metric_value = 0;      // of its last epoch
  data::StoreMeta data;         // the run's data store: feature shape, task, classes
  data::SourceSpec source;      // how that store was made (format, feature_scale, ...)
  std::string state;            // the state bytes (train/state_codec.h)
  train::TrainedModel Trained() const;  // borrows `state`
};

// The model `model_flag` names (a model id; "" = the best) of the run in `run_dir`.
// Errors, each one line and exit 2: NotFound (not a run directory); InvalidArgument for
// "no finished model", an unknown or malformed id, or a model that has not finished or
// whose state the run did not keep; DataLoss when the state file does not match the
// journal or a run file is malformed.
StatusOr<RunModel> OpenRunModel(const std::string& run_dir, const std::string& model_flag);

int CmdExport(const CommandLine& line);

}  // namespace cerebro::cli

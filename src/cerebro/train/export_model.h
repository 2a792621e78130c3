// A trained model out of a run: its TorchScript file (model/export.h) and its predictions
// on a dataset. The caller (cli/export.h) finds the model's config and state bytes in the
// run directory and checks them against the journal; this file turns them back into the
// net and runs it. Torch-free interface, so cli/ includes no torch header. Functions are
// stateless; they use torch's process-wide thread settings, so one call at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::train {

// A model as its run holds it.
struct TrainedModel {
  std::string model_config_json;       // params as the trainer reads them
  std::vector<int64_t> feature_shape;  // of the run's data, e.g. {1, 28, 28}
  int64_t num_outputs = 1;             // classes, or 1 for regression
  const uint8_t* state = nullptr;      // borrowed: a state (state_codec.h) of the model
  size_t state_size = 0;
};

// The bytes of a TorchScript file (torch.jit.save's format) holding `model` with its
// trained weights: forward takes raw inputs [N, *feature_shape] (or flat rows) and
// multiplies them by `input_scale` (the data section's feature_scale) first; it returns
// [N, num_outputs] (logits for classification). `metadata_json` is stored in the file as
// the extra file "cerebro.json" (torch.jit.load(path, _extra_files=...) reads it).
// Errors: InvalidArgument (bad config, a layer with no TorchScript form), NotFound (the
// family has no exporter), DataLoss (the state does not decode into the model), Internal
// (torch failed).
StatusOr<std::string> ExportTorchScriptFile(const TrainedModel& model, double input_scale,
                                            const std::string& metadata_json);

// What a model says about each example of a dataset.
struct Predictions {
  int64_t num_examples = 0;
  int64_t num_outputs = 0;
  // [num_examples, num_outputs] row-major: class probabilities (softmax of the logits)
  // for classification, the predicted value for regression.
  std::vector<float> scores;
  std::vector<int64_t> predicted;  // classification: the most probable class per example
  int64_t correct = 0;             // classification: examples whose label it predicted
};

// Runs `model` (eval mode, no grad) over `data`, whose features are already scaled as
// the trainer sees them (the data readers apply feature_scale). `progress`, if set, is
// called after each batch with (examples done, total). Errors: InvalidArgument when the
// examples' width (prod of feature_shape) is not the model's, or the config is bad;
// DataLoss when the state does not decode or the dataset is inconsistent (labels out of
// range, non-finite byte scale); Internal when torch fails.
StatusOr<Predictions> Predict(const TrainedModel& model, data::Dataset data,
                              const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace cerebro::train

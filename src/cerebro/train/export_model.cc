#include "cerebro/train/export_model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <new>
#include <sstream>
#include <utility>

#include "cerebro/model/export.h"
#include "cerebro/model/registry.h"
#include "cerebro/train/partition.h"
#include "cerebro/train/state_codec.h"
#include "cerebro/train/torch_error.h"

namespace cerebro::train {
namespace {

constexpr int64_t kPredictBatchSize = 1024;  // as the trainer's eval passes

struct Loaded {
  model::ModelConfig config;
  model::InputSpec input;
  model::Net net;
};

// The net of `m` with its trained weights, in eval mode.
StatusOr<Loaded> Load(const TrainedModel& m) {
  Loaded l;
  ASSIGN_OR_RETURN(l.config, model::ParseModelConfig(m.model_config_json));
  l.input = model::InputSpec{m.feature_shape, m.num_outputs};
  ASSIGN_OR_RETURN(l.net, model::BuildNet(l.config, l.input));
  if (m.state == nullptr || m.state_size == 0) return DataLoss("model state: empty");
  RETURN_IF_ERROR(DecodeState(m.state, m.state_size, l.net, nullptr, l.config.optimizer));
  l.net.module->eval();
  return l;
}

// Runs `body`, turning what torch throws into a Status (the CLI prints one line).
template <typename T, typename Body>
StatusOr<T> Contained(const char* what, Body body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return Internal(std::string(what) + ": " + TorchMessage(e));
  } catch (const std::bad_alloc&) {
    return Internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Internal(std::string(what) + ": " + e.what());
  }
}

}  // namespace

StatusOr<std::string> ExportTorchScriptFile(const TrainedModel& model, double input_scale,
                                            const std::string& metadata_json) {
  return Contained<std::string>("export", [&]() -> StatusOr<std::string> {
    ASSIGN_OR_RETURN(Loaded l, Load(model));
    ASSIGN_OR_RETURN(torch::jit::Module script,
                     model::ExportTorchScript(l.config, l.input, l.net,
                                              model::ExportOptions{input_scale}));
    std::ostringstream out;
    script.save(out, {{"cerebro.json", metadata_json}});
    return out.str();
  });
}

StatusOr<Predictions> Predict(const TrainedModel& model, data::Dataset data,
                              const std::function<void(int64_t, int64_t)>& progress) {
  int64_t width = 1;
  for (int64_t d : model.feature_shape) width *= d;
  if (data.example_size() != width) {
    return InvalidArgument("examples have " + std::to_string(data.example_size()) +
                           " features; the model expects " + std::to_string(width));
  }
  data.feature_shape = model.feature_shape;  // same width: read as the model's shape
  const bool classification = data.task == data::Task::kClassification;
  // Labels the model has no output for are wrong predictions, not a broken dataset.
  if (classification) data.num_classes = std::max(data.num_classes, model.num_outputs);
  return Contained<Predictions>("predict", [&]() -> StatusOr<Predictions> {
    ASSIGN_OR_RETURN(Loaded l, Load(model));
    ASSIGN_OR_RETURN(std::unique_ptr<Partition> part, Partition::Make("data", std::move(data)));
    Predictions p;
    p.num_examples = part->size();
    p.num_outputs = model.num_outputs;
    p.scores.reserve(static_cast<size_t>(p.num_examples * p.num_outputs));
    torch::NoGradGuard no_grad;
    for (int64_t lo = 0; lo < p.num_examples; lo += kPredictBatchSize) {
      const int64_t hi = std::min(p.num_examples, lo + kPredictBatchSize);
      torch::Tensor out = l.net.forward(part->Range(lo, hi));
      if (out.dim() != 2 || out.size(0) != hi - lo || out.size(1) != p.num_outputs) {
        return Internal("predict: the model's output has shape " +
                        std::to_string(out.dim()) + "-D, not [batch, outputs]");
      }
      if (classification) {
        torch::Tensor argmax = out.argmax(1);
        p.correct += argmax.eq(part->labels().slice(0, lo, hi)).sum().item<int64_t>();
        auto a = argmax.accessor<int64_t, 1>();
        for (int64_t i = 0; i < a.size(0); ++i) p.predicted.push_back(a[i]);
        out = torch::softmax(out, 1);
      }
      torch::Tensor scores = out.to(torch::kFloat).contiguous();
      p.scores.insert(p.scores.end(), scores.data_ptr<float>(),
                      scores.data_ptr<float>() + scores.numel());
      if (progress) progress(hi, p.num_examples);
    }
    return p;
  });
}

}  // namespace cerebro::train

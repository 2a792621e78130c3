#include "cerebro/cli/predict.h"

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>

#include "cerebro/cli/export.h"
#include "cerebro/cli/outcome.h"
#include "cerebro/cli/progress.h"
#include "cerebro/data/readers.h"
#include "cerebro/train/export_model.h"

namespace cerebro::cli {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Reads FILE as the run's source was read (format, CSV options, feature_scale, task).
StatusOr<data::Dataset> ReadData(const RunModel& m, const CommandLine& line) {
  data::SourceSpec source = m.source;
  source.train_path = line.Value("--data");
  source.train_labels_path = line.Value("--labels");
  source.val_path.clear();
  source.val_labels_path.clear();
  if (source.format == "idx" && source.train_labels_path.empty()) {
    return InvalidArgument("--labels: the run's data is IDX; give the labels file of " +
                           source.train_path);
  }
  ASSIGN_OR_RETURN(data::Dataset d, data::ReadSource(source, /*validation=*/false));
  int64_t width = 1;
  for (int64_t v : m.data.feature_shape) width *= v;
  if (d.example_size() != width) {
    return InvalidArgument(source.train_path + ": examples have " +
                           std::to_string(d.example_size()) + " features; model " +
                           std::to_string(m.outcome.id) + " expects " + std::to_string(width) +
                           " (feature shape " + ShapeText(m.data.feature_shape) + ")");
  }
  return d;
}

std::string Csv(const train::Predictions& p, const data::Dataset& d) {
  const bool classification = d.task == data::Task::kClassification;
  std::string out = classification ? "row,label,predicted" : "row,label,prediction";
  if (classification) {
    for (int64_t c = 0; c < p.num_outputs; ++c) out += ",p" + std::to_string(c);
  }
  out += "\n";
  char buf[32];
  for (int64_t i = 0; i < p.num_examples; ++i) {
    out += std::to_string(i) + ",";
    if (classification) {
      out += std::to_string(d.int_labels[i]) + "," + std::to_string(p.predicted[i]);
      for (int64_t c = 0; c < p.num_outputs; ++c) {
        std::snprintf(buf, sizeof(buf), ",%.6g", p.scores[i * p.num_outputs + c]);
        out += buf;
      }
    } else {
      std::snprintf(buf, sizeof(buf), "%.9g,%.9g", d.float_labels[i], p.scores[i]);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

// Mean squared error of regression predictions.
double Mse(const train::Predictions& p, const data::Dataset& d) {
  double sum = 0;
  for (int64_t i = 0; i < p.num_examples; ++i) {
    const double e = static_cast<double>(p.scores[i]) - d.float_labels[i];
    sum += e * e;
  }
  return p.num_examples > 0 ? sum / static_cast<double>(p.num_examples) : 0.0;
}

}  // namespace

int CmdPredict(const CommandLine& line) {
  if (line.positional.size() != 1) return Fail(InvalidArgument("predict: expected one RUN_DIR"));
  if (!line.Has("--data")) return Fail(InvalidArgument("--data: predict needs a data file"));
  auto m = OpenRunModel(line.positional[0], line.Value("--model"));
  if (!m.ok()) return Fail(m.status());
  auto d = ReadData(*m, line);
  if (!d.ok()) return Fail(d.status());
  // The dataset is moved into the predictor; the labels are kept for the CSV.
  data::Dataset labels;
  labels.task = d->task;
  labels.int_labels = d->int_labels;
  labels.float_labels = d->float_labels;

  StatusOr<train::Predictions> p = Internal("not run");
  {
    CountBar bar("predict", line.quiet);
    p = train::Predict(m->Trained(), *std::move(d), std::ref(bar));
  }
  if (!p.ok()) return Fail(p.status());

  const std::string csv = Csv(*p, labels);
  if (line.Has("--out")) {
    if (Status st = RealFileSystem().WriteFileAtomic(line.Value("--out"), csv); !st.ok()) {
      return Fail(st);
    }
  } else {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
  }
  // With the CSV on stdout, the summary goes to stderr.
  FILE* info = line.Has("--out") ? stdout : stderr;
  const std::string where = line.Has("--out") ? " -> " + line.Value("--out") : "";
  if (labels.task == data::Task::kClassification) {
    std::fprintf(info, "model %d on %lld examples: accuracy %.4f (%lld correct)%s\n",
                 m->outcome.id, (long long)p->num_examples,
                 p->num_examples ? static_cast<double>(p->correct) / p->num_examples : 0.0,
                 (long long)p->correct, where.c_str());
  } else {
    std::fprintf(info, "model %d on %lld examples: mse %.6g%s\n", m->outcome.id,
                 (long long)p->num_examples, Mse(*p, labels), where.c_str());
  }
  return 0;
}

}  // namespace cerebro::cli

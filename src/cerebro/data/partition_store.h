// The partitioned store: what `cerebro prepare` writes and what a worker loads.
//
// On disk (a directory, format_version 1):
//   meta.json            {"format_version":1,"task":"classification"|"regression",
//                         "feature_shape":[1,28,28],"num_classes":10,"seed":42,
//                         "train":[{"x":"train_000.x.npy","y":"train_000.y.npy","n":30000},..],
//                         "val":[{"x":"val_000.x.npy","y":"val_000.y.npy","n":10000},..],
//                         "source":{...the data section of the spec...}}
//   train_NNN.x.npy      float32, shape [n, *feature_shape], C order, little endian
//   train_NNN.y.npy      int64 [n] for classification, float32 [n] for regression
//   val_NNN.{x,y}.npy    the same for validation partitions
// Plain NumPy .npy (v1.0) so users can inspect partitions with numpy.load().
// Preparation writes into DIR.tmp-<pid> and renames it to DIR only when complete, so a
// failed prepare never leaves a half-written store. Functions are thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"

namespace cerebro::data {

enum class Task { kClassification, kRegression };

// An in-memory labelled dataset. features holds num_examples * prod(feature_shape)
// floats, row-major. Exactly one of int_labels / float_labels is used, by task.
struct Dataset {
  Task task = Task::kClassification;
  std::vector<int64_t> feature_shape;  // per example, e.g. {784} or {1, 28, 28}
  std::vector<float> features;
  std::vector<int64_t> int_labels;     // classification, values in [0, num_classes)
  std::vector<float> float_labels;     // regression
  int64_t num_classes = 0;             // classification only
  int64_t num_examples() const;
  int64_t example_size() const;        // product of feature_shape
};

// Where the raw data comes from. Paths are files; `.gz` files are decompressed on read.
struct SourceSpec {
  std::string format;            // "idx" | "csv" | "libsvm"
  std::string train_path;        // csv/libsvm: the file; idx: the images file
  std::string train_labels_path; // idx only: the labels file
  std::string val_path;          // optional separate validation set (same format)
  std::string val_labels_path;   // idx only
  double val_fraction = 0.0;     // used when val_path is empty; in (0, 1)
  // csv
  bool csv_header = true;
  std::string csv_label_column;  // a column name (needs header) or a 0-based index; "" = last
  char csv_delimiter = ',';
  // libsvm: feature count; 0 = infer from the largest index seen
  int64_t libsvm_num_features = 0;
  // Multiply every feature by this (e.g. 1/255 for 8-bit images).
  double feature_scale = 1.0;
  Task task = Task::kClassification;
};

struct PrepareOptions {
  int num_train_partitions = 1;
  int num_val_partitions = 1;
  uint64_t seed = 0;  // the one-time shuffle (and the validation split)
  // How error messages name the partition count, e.g. "run.workers" when the caller
  // derives it from the number of workers.
  std::string partitions_field = "partitions";
};

struct PartitionInfo {
  std::string x_file;  // relative to the store directory
  std::string y_file;
  int64_t num_examples = 0;
};

struct StoreMeta {
  Task task = Task::kClassification;
  std::vector<int64_t> feature_shape;
  int64_t num_classes = 0;
  uint64_t seed = 0;
  std::vector<PartitionInfo> train;
  std::vector<PartitionInfo> val;
};

// Reads the source, shuffles once (seeded), splits off validation, cuts train and val
// into contiguous near-equal partitions and writes the store atomically to `dir`.
// Fails (with nothing written) if `dir` exists, a file is missing or malformed
// (the message names the file and, where known, the line/record), or there are
// more partitions than examples.
// The shuffle is Fisher-Yates driven by std::mt19937_64(DeriveSeed(seed, "data.shuffle"))
// with our own unbiased bounded draw, so a seed gives the same store on every platform.
// A val_fraction split takes the last round(n * val_fraction) shuffled examples; a
// separate val source is shuffled with DeriveSeed(seed, "data.shuffle.val").
// Partition i of k holds n/k or n/k+1 examples (the larger ones first).
Status Prepare(const SourceSpec& source, const PrepareOptions& options, const std::string& dir);
// The same, touching the output only through `fs` (for fault-injection tests).
Status Prepare(const SourceSpec& source, const PrepareOptions& options, const std::string& dir,
               FileSystem& fs);

// Reads and validates meta.json of a store.
StatusOr<StoreMeta> ReadStoreMeta(const std::string& dir);

// Loads one partition fully into memory. kind is "train" or "val". Reads each .npy in
// one pass straight into the Dataset's buffers. InvalidArgument for a bad kind or
// index; DataLoss naming the file if it is truncated or disagrees with meta.json.
StatusOr<Dataset> LoadPartition(const std::string& dir, const std::string& kind, int index);

}  // namespace cerebro::data

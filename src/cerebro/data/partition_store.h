// The partitioned store: what `cerebro prepare` writes and what a worker loads.
//
// On disk (a directory, format_version 2):
//   meta.json            {"format_version":2,"task":"classification"|"regression",
//                         "feature_shape":[1,28,28],"num_classes":10,"seed":42,
//                         "feature_dtype":"uint8"|"float32","feature_scale":0.0039..,
//                         "train":[{"x":"train_000.x.npy","y":"train_000.y.npy","n":30000},..],
//                         "val":[{"x":"val_000.x.npy","y":"val_000.y.npy","n":10000},..],
//                         "source":{...the data section of the spec...},
//                         "source_files":[{"path":..,"bytes":..,"mtime_ns":..},..]}
//   train_NNN.x.npy      shape [n, *feature_shape], C order, little endian; dtype float32
//                        ("<f4"), or uint8 ("|u1") for 8-bit sources (IDX images), whose
//                        feature value is ByteFeatureTable(feature_scale)[byte]
//   train_NNN.y.npy      int64 [n] for classification, float32 [n] for regression
//   val_NNN.{x,y}.npy    the same for validation partitions
// Plain NumPy .npy (v1.0) so users can inspect partitions with numpy.load().
// Format 1 stores (always float32, no feature_dtype) are still read.
// Why bytes stay bytes: an 8-bit image as float32 takes 4x the memory in every worker and
// 4x the disk; the trainer decodes each batch through a 256-entry table instead (a load
// per pixel), which gives exactly the floats a float32 store would have held.
// Preparation writes into DIR.tmp-<pid> and renames it to DIR only when complete, so a
// failed or interrupted prepare never leaves a half-written store. Functions are
// thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"

namespace cerebro::data {

enum class Task { kClassification, kRegression };

// How a Dataset holds its features (see the store format above).
enum class FeatureEncoding {
  kFloat32,  // `features`
  kUint8,    // `byte_features`, value = ByteFeatureTable(byte_feature_scale)[byte]
};

// The float a byte value stands for: static_cast<float>(byte * scale), computed in
// double and rounded once, so a byte store decodes to exactly what a float32 store of
// the same source holds. ByteFeatureTable holds it for every byte value (the trainer's
// per-batch decoding).
float ByteFeatureValue(uint8_t byte, double scale);
std::array<float, 256> ByteFeatureTable(double scale);
// True when every entry of ByteFeatureTable(scale) is finite.
bool ByteFeatureScaleIsFinite(double scale);

// An in-memory labelled dataset. The features of num_examples * prod(feature_shape)
// values, row-major, are in `features` (kFloat32) or `byte_features` (kUint8); the
// other vector is empty. Exactly one of int_labels / float_labels is used, by task.
struct Dataset {
  Task task = Task::kClassification;
  std::vector<int64_t> feature_shape;  // per example, e.g. {784} or {1, 28, 28}
  FeatureEncoding encoding = FeatureEncoding::kFloat32;
  std::vector<float> features;
  std::vector<uint8_t> byte_features;
  double byte_feature_scale = 1.0;     // kUint8 only
  std::vector<int64_t> int_labels;     // classification, values in [0, num_classes)
  std::vector<float> float_labels;     // regression
  int64_t num_classes = 0;             // classification only
  // Set by MapPartition: the features are `mapped_values` values at `mapped` (in
  // `encoding`) inside a read-only mapping of the store's file, which `mapping` keeps
  // alive (unmapped with the last copy); both feature vectors are then empty.
  std::shared_ptr<const void> mapping;
  const void* mapped = nullptr;
  int64_t mapped_values = 0;
  // The features in use, wherever they are: float32 (kFloat32) or bytes (kUint8).
  const float* float_data() const;
  const uint8_t* byte_data() const;
  int64_t num_examples() const;
  int64_t example_size() const;        // product of feature_shape
  int64_t num_feature_values() const;  // size of the vector in use
  float FeatureAt(int64_t i) const;    // the i-th feature value, decoded
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

// Called as preparation writes examples: (written so far, to write in all), train and
// validation together, from the preparing thread, after each chunk (~16 MB) is written.
using PrepareProgress = std::function<void(int64_t examples_written, int64_t examples_total)>;

struct PrepareOptions {
  int num_train_partitions = 1;
  int num_val_partitions = 1;
  uint64_t seed = 0;  // the one-time shuffle (and the validation split)
  // How error messages name the partition count, e.g. "run.workers" when the caller
  // derives it from the number of workers.
  std::string partitions_field = "partitions";
  PrepareProgress progress;  // optional; not part of what the store is (its cache key)
};

struct PartitionInfo {
  std::string x_file;  // relative to the store directory
  std::string y_file;
  int64_t num_examples = 0;
};

struct StoreMeta {
  int format_version = 2;
  Task task = Task::kClassification;
  std::vector<int64_t> feature_shape;
  FeatureEncoding encoding = FeatureEncoding::kFloat32;
  double feature_scale = 1.0;  // kUint8 only
  int64_t num_classes = 0;
  uint64_t seed = 0;
  std::vector<PartitionInfo> train;
  std::vector<PartitionInfo> val;
};

// Reads the source, shuffles once (seeded), splits off validation, cuts train and val
// into contiguous near-equal partitions and writes the store atomically to `dir`.
// Holds the source in its own encoding (bytes for IDX) plus one partition at a time.
// Fails (with nothing written) if `dir` exists, a file is missing or malformed
// (the message names the file and, where known, the line/record), or there are
// more partitions than examples.
// The shuffle is common's ShuffledRange(n, DeriveSeed(seed, "data.shuffle")) (rng.h:
// Fisher-Yates with a specified bounded draw), so a seed gives the same store everywhere.
// A val_fraction split takes the last round(n * val_fraction) shuffled examples; a
// separate val source is shuffled with DeriveSeed(seed, "data.shuffle.val").
// Partition i of k holds n/k or n/k+1 examples (the larger ones first).
// Class labels: each reader refuses (InvalidArgument naming the file, line or item, and
// the value) a source whose largest label + 1 exceeds both 2 x and 100 + its number of
// distinct labels, since the output layer is that wide (data_internal.h: CheckDenseLabels).
// Validation labels that no training example has are not refused (a rare class can land
// in validation only, and the run is still meaningful): they are reported in one warning
// line on stderr naming how many and which.
// Ctrl-C (SIGINT) or SIGTERM while the store is being written removes DIR.tmp-<pid> and
// then ends the process with that signal; before the staging directory exists it ends
// the process at once. That holds where the signal's disposition is the default; a
// caller that handles (or ignores) these signals itself keeps its handler, and Prepare
// runs to completion or failure as before (interrupt_guard.h).
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
// The same checks, but the features are mapped (read-only, MAP_PRIVATE, pre-faulted),
// not copied: the pages are the page cache's, shared by every worker that maps the same
// file (task-parallel replicas, a restarted worker) and counted once in their PSS. Labels
// are read (and checked) as LoadPartition reads them. The file must not be truncated in
// place while mapped (the project replaces files by rename only).
StatusOr<Dataset> MapPartition(const std::string& dir, const std::string& kind, int index);

}  // namespace cerebro::data

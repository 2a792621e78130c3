// Prepare (raw source -> partitioned store) and the loaders for that store.
#include "cerebro/data/partition_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "cerebro/common/logging.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/data_internal.h"
#include "cerebro/data/interrupt_guard.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {

int64_t Dataset::num_examples() const {
  return static_cast<int64_t>(task == Task::kClassification ? int_labels.size()
                                                            : float_labels.size());
}

int64_t Dataset::example_size() const {
  int64_t size = 1;
  for (int64_t d : feature_shape) size *= d;
  return size;
}

int64_t Dataset::num_feature_values() const {
  if (mapped != nullptr) return mapped_values;
  return static_cast<int64_t>(encoding == FeatureEncoding::kUint8 ? byte_features.size()
                                                                   : features.size());
}

const float* Dataset::float_data() const {
  return mapped != nullptr ? static_cast<const float*>(mapped) : features.data();
}

const uint8_t* Dataset::byte_data() const {
  return mapped != nullptr ? static_cast<const uint8_t*>(mapped) : byte_features.data();
}

float Dataset::FeatureAt(int64_t i) const {
  if (encoding == FeatureEncoding::kFloat32) return float_data()[i];
  return ByteFeatureValue(byte_data()[i], byte_feature_scale);
}

float ByteFeatureValue(uint8_t byte, double scale) { return static_cast<float>(byte * scale); }

std::array<float, 256> ByteFeatureTable(double scale) {
  std::array<float, 256> table;
  for (int v = 0; v < 256; ++v) table[v] = ByteFeatureValue(static_cast<uint8_t>(v), scale);
  return table;
}

bool ByteFeatureScaleIsFinite(double scale) {
  for (float v : ByteFeatureTable(scale)) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

namespace {

constexpr int kFormatVersion = internal::kStoreFormatVersion;
constexpr int kOldestReadableFormatVersion = 1;
using Json = nlohmann::json;


std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Sizes of k contiguous parts of n that differ by at most one (the larger ones first).
std::vector<int64_t> PartitionSizes(int64_t n, int k) {
  std::vector<int64_t> sizes(k, n / k);
  for (int64_t i = 0; i < n % k; ++i) ++sizes[i];
  return sizes;
}

std::string PartitionName(const char* kind, int index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s_%03d", kind, index);
  return buf;
}

// Labels of val[val_idx] that no example of train[train_idx] has (classification).
std::vector<int64_t> ValLabelsAbsentFromTrain(const Dataset& train,
                                              const std::vector<int64_t>& train_idx,
                                              const Dataset& val,
                                              const std::vector<int64_t>& val_idx,
                                              int64_t num_classes) {
  std::vector<bool> in_train(static_cast<size_t>(num_classes), false);
  std::vector<bool> reported(static_cast<size_t>(num_classes), false);
  for (int64_t i : train_idx) in_train[train.int_labels[i]] = true;
  std::vector<int64_t> absent;
  for (int64_t i : val_idx) {
    const int64_t label = val.int_labels[i];
    if (!in_train[label] && !reported[label]) {
      reported[label] = true;
      absent.push_back(label);
    }
  }
  std::sort(absent.begin(), absent.end());
  return absent;
}

void WarnAboutValLabelsAbsentFromTrain(const std::vector<int64_t>& absent, int64_t num_classes) {
  if (absent.empty()) return;
  std::string list;
  for (size_t i = 0; i < absent.size() && i < 10; ++i) {
    list += (i ? ", " : "") + std::to_string(absent[i]);
  }
  if (absent.size() > 10) list += ", ...";
  LogWarning("data: " + std::to_string(absent.size()) + " of " + std::to_string(num_classes) +
             " classes occur in validation but never in training (" + list +
             "); no model can learn them, so their examples count as errors");
}

// How many feature bytes preparation gathers before writing them: the driver's memory
// for the features is this, not a partition (the 300K set's partitions are 59-235 MB).
constexpr size_t kWriteChunkBytes = size_t{16} << 20;

// Writes examples idx[0..count) of `rows` as NAME.x.npy / NAME.y.npy in `dir`, features
// in the source's own encoding, gathered straight into the file's bytes a chunk at a
// time (the staging directory, not each file, is what is published atomically).
// Examples written so far and in all, for PrepareOptions::progress.
struct WriteProgress {
  const PrepareProgress* report = nullptr;
  int64_t written = 0;
  int64_t total = 0;
  void Add(int64_t n) {
    written += n;
    if (report != nullptr && *report) (*report)(written, total);
  }
};

Status WritePartition(FileSystem& fs, const std::string& dir, const std::string& name,
                      const internal::RowSource& rows, const int64_t* idx, int64_t count,
                      PartitionInfo* info, WriteProgress* progress) {
  const Dataset& src = rows.meta();
  std::vector<int64_t> x_shape = {count};
  x_shape.insert(x_shape.end(), src.feature_shape.begin(), src.feature_shape.end());
  info->x_file = name + ".x.npy";
  info->y_file = name + ".y.npy";
  info->num_examples = count;
  const std::string x_path = JoinPath(dir, info->x_file);
  const size_t row = rows.row_bytes();
  const int64_t rows_per_chunk =
      std::max<int64_t>(1, static_cast<int64_t>(kWriteChunkBytes / std::max<size_t>(row, 1)));
  std::string chunk =
      internal::EncodeNpyHeader(src.encoding == FeatureEncoding::kUint8 ? "|u1" : "<f4", x_shape);
  int64_t done = 0;
  do {
    const int64_t m = std::min(rows_per_chunk, count - done);
    const size_t at = done == 0 ? chunk.size() : 0;
    chunk.resize(at + row * static_cast<size_t>(m));
    RETURN_IF_ERROR(rows.Gather(idx + done, m, chunk.data() + at));
    RETURN_IF_ERROR(done == 0 ? fs.WriteFileAtomic(x_path, chunk) : fs.AppendDurable(x_path, chunk));
    done += m;
    progress->Add(m);
  } while (done < count);
  if (src.task == Task::kClassification) {
    std::vector<int64_t> y(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) y[i] = src.int_labels[idx[i]];
    return WriteNpyInt64(fs, JoinPath(dir, info->y_file), {count}, y.data());
  }
  std::vector<float> y(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) y[i] = src.float_labels[idx[i]];
  return WriteNpyFloat(fs, JoinPath(dir, info->y_file), {count}, y.data());
}

Status InterruptedError(const std::string& dir) {
  return Cancelled(dir + ": interrupted; the partial store was removed");
}

Status WritePartitions(FileSystem& fs, const std::string& dir, const char* kind,
                       const internal::RowSource& src,
                       const std::vector<int64_t>& idx, int k,
                       const internal::InterruptGuard& guard, WriteProgress* progress,
                       std::vector<PartitionInfo>* out) {
  int64_t start = 0;
  std::vector<int64_t> sizes = PartitionSizes(static_cast<int64_t>(idx.size()), k);
  for (int p = 0; p < k; ++p) {
    if (guard.Interrupted()) return InterruptedError(dir);
    PartitionInfo info;
    RETURN_IF_ERROR(
        WritePartition(fs, dir, PartitionName(kind, p), src, idx.data() + start, sizes[p], &info,
                       progress));
    out->push_back(info);
    start += sizes[p];
  }
  return Status::Ok();
}

Json PartitionsToJson(const std::vector<PartitionInfo>& parts) {
  Json a = Json::array();
  for (const auto& p : parts)
    a.push_back(Json{{"x", p.x_file}, {"y", p.y_file}, {"n", p.num_examples}});
  return a;
}

Status ValidateOptions(const SourceSpec& source, const PrepareOptions& options) {
  if (options.num_train_partitions < 1) {
    return InvalidArgument("num_train_partitions must be >= 1, got " +
                           std::to_string(options.num_train_partitions));
  }
  if (options.num_val_partitions < 1) {
    return InvalidArgument("num_val_partitions must be >= 1, got " +
                           std::to_string(options.num_val_partitions));
  }
  if (source.val_path.empty() && !(source.val_fraction > 0.0 && source.val_fraction < 1.0)) {
    return InvalidArgument("data.val_fraction must be in (0, 1) when no val_path is given, got " +
                           std::to_string(source.val_fraction));
  }
  if (!std::isfinite(source.feature_scale)) {
    return InvalidArgument("data.feature_scale must be finite");
  }
  return Status::Ok();
}

// Everything up to the final rename; `tmp` is created here (`guard` armed just before)
// and removed by the caller on failure.
Status PrepareInto(const SourceSpec& source, const PrepareOptions& options, const std::string& tmp,
                   FileSystem& fs, internal::InterruptGuard& guard) {
  // Staged first: a gzip'd IDX source is decompressed into it (and read by row from there).
  guard.Arm();
  RETURN_IF_ERROR(fs.MakeDirs(tmp));
  ASSIGN_OR_RETURN(std::unique_ptr<internal::RowSource> train_rows,
                   internal::ReadSourceRows(source, /*validation=*/false, tmp));
  const Dataset& train = train_rows->meta();
  std::vector<int64_t> train_idx =
      ShuffledRange(train.num_examples(), DeriveSeed(options.seed, "data.shuffle"));
  std::vector<int64_t> val_idx;
  std::unique_ptr<internal::RowSource> val_rows;
  const internal::RowSource* val = train_rows.get();
  int64_t num_classes = train.num_classes;
  if (source.val_path.empty()) {
    const int64_t n = train.num_examples();
    const int64_t n_val = std::llround(source.val_fraction * static_cast<double>(n));
    val_idx.assign(train_idx.end() - n_val, train_idx.end());
    train_idx.resize(static_cast<size_t>(n - n_val));
  } else {
    SourceSpec val_spec = source;
    // An inferred LibSVM width must come from train; val may not use the highest index.
    if (source.format == "libsvm" && source.libsvm_num_features == 0) {
      val_spec.libsvm_num_features = train.example_size();
    }
    ASSIGN_OR_RETURN(val_rows, internal::ReadSourceRows(val_spec, /*validation=*/true, tmp));
    const Dataset& val_meta = val_rows->meta();
    if (val_meta.feature_shape != train.feature_shape) {
      return InvalidArgument(source.val_path + ": validation examples have shape " +
                             ShapeString(val_meta.feature_shape) + " but training examples (" +
                             source.train_path + ") have " + ShapeString(train.feature_shape));
    }
    if (val_meta.encoding != train.encoding) {
      return Internal(source.val_path + ": read with another feature encoding than " +
                      source.train_path);
    }
    val = val_rows.get();
    num_classes = std::max(num_classes, val_meta.num_classes);
    val_idx =
        ShuffledRange(val_meta.num_examples(), DeriveSeed(options.seed, "data.shuffle.val"));
  }
  if (static_cast<int64_t>(train_idx.size()) < options.num_train_partitions) {
    return InvalidArgument(options.partitions_field + ": " +
                           std::to_string(options.num_train_partitions) +
                           " train partitions exceed the " + std::to_string(train_idx.size()) +
                           " training examples; use fewer partitions");
  }
  if (static_cast<int64_t>(val_idx.size()) < options.num_val_partitions) {
    return InvalidArgument(options.partitions_field + ": " +
                           std::to_string(options.num_val_partitions) +
                           " validation partitions exceed the " + std::to_string(val_idx.size()) +
                           " validation examples; use fewer partitions or a larger val_fraction");
  }

  if (train.task == Task::kClassification) {
    WarnAboutValLabelsAbsentFromTrain(
        ValLabelsAbsentFromTrain(train, train_idx, val->meta(), val_idx, num_classes),
        num_classes);
  }

  StoreMeta meta;
  WriteProgress progress{&options.progress, 0,
                         static_cast<int64_t>(train_idx.size() + val_idx.size())};
  RETURN_IF_ERROR(WritePartitions(fs, tmp, "train", *train_rows, train_idx,
                                  options.num_train_partitions, guard, &progress, &meta.train));
  RETURN_IF_ERROR(WritePartitions(fs, tmp, "val", *val, val_idx, options.num_val_partitions, guard,
                                  &progress, &meta.val));
  // The decompressed sources are scratch, not part of the store.
  for (const char* scratch : {".source-train.idx", ".source-val.idx"}) {
    const std::string path = JoinPath(tmp, scratch);
    if (::access(path.c_str(), F_OK) == 0 && ::unlink(path.c_str()) != 0) {
      return internal::ErrnoError(path, "remove", errno);
    }
  }
  Json j = {
      {"format_version", kFormatVersion},
      {"task", internal::TaskName(train.task)},
      {"feature_shape", train.feature_shape},
      {"num_classes", train.task == Task::kClassification ? num_classes : 0},
      {"seed", options.seed},
      {"feature_dtype", train.encoding == FeatureEncoding::kUint8 ? "uint8" : "float32"},
      {"feature_scale", train.encoding == FeatureEncoding::kUint8 ? train.byte_feature_scale : 1.0},
      {"train", PartitionsToJson(meta.train)},
      {"val", PartitionsToJson(meta.val)},
      {"source", internal::SourceToJson(source)},
      {"source_files", internal::SourceFilesToJson(source)}};
  return fs.WriteFileAtomic(JoinPath(tmp, "meta.json"), j.dump(2) + "\n");
}

bool IsPlainFileName(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

// `v` as an int64; `what` names it in the error. nlohmann's get<int64_t>() would also
// take a float and convert it, which is undefined behaviour out of range ("n": 1e300).
StatusOr<int64_t> AsInt64(const Json& v, const std::string& what) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX)) {
    return DataLoss(what + " must be an integer, got " + v.dump());
  }
  return v.get<int64_t>();
}

StatusOr<std::vector<PartitionInfo>> ParsePartitions(const Json& a, const std::string& where) {
  if (!a.is_array()) return DataLoss(where + " must be an array");
  std::vector<PartitionInfo> out;
  for (const Json& e : a) {
    PartitionInfo p;
    p.x_file = e.at("x").get<std::string>();
    p.y_file = e.at("y").get<std::string>();
    ASSIGN_OR_RETURN(p.num_examples, AsInt64(e.at("n"), where + ": n"));
    if (!IsPlainFileName(p.x_file) || !IsPlainFileName(p.y_file) || p.num_examples < 0) {
      return DataLoss(where + ": bad partition entry " + e.dump());
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

Status Prepare(const SourceSpec& source, const PrepareOptions& options, const std::string& dir) {
  return Prepare(source, options, dir, RealFileSystem());
}

Status Prepare(const SourceSpec& source, const PrepareOptions& options, const std::string& dir_in,
               FileSystem& fs) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return InvalidArgument("prepare: output directory is empty");
  RETURN_IF_ERROR(ValidateOptions(source, options));
  const std::string exists_msg = dir +
                                 ": already exists; refusing to overwrite a prepared store (remove "
                                 "it or pick another directory)";
  // Checked before reading the (possibly large) source so the mistake is reported at once.
  if (fs.Exists(dir)) return AlreadyExists(exists_msg);

  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  if (fs.Exists(tmp)) RETURN_IF_ERROR(fs.RemoveAll(tmp));  // left by a crashed run of this pid
  internal::InterruptGuard guard;
  Status st = PrepareInto(source, options, tmp, fs, guard);
  // The last check: a signal after it finds the store complete, and leaves it.
  if (st.ok() && guard.Interrupted()) st = InterruptedError(tmp);
  if (st.ok() && fs.Exists(dir)) st = AlreadyExists(exists_msg);  // appeared meanwhile
  if (st.ok()) st = fs.Rename(tmp, dir);
  if (!st.ok()) {
    // Best effort: the original error is what the user needs to see.
    (void)fs.RemoveAll(tmp);
  }
  guard.Reraise();  // Ctrl-C or SIGTERM while staging: nothing is left; die of it now
  return st;
}

StatusOr<StoreMeta> ReadStoreMeta(const std::string& dir) {
  const std::string path = JoinPath(dir, "meta.json");
  auto text = RealFileSystem().ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFound(path + ": no such file; is " + dir +
                      " a store written by `cerebro prepare`?");
    }
    return text.status();
  }
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return DataLoss(path + ": not a valid JSON object");
  StoreMeta meta;
  try {
    ASSIGN_OR_RETURN(const int64_t version,
                     AsInt64(j.at("format_version"), path + ": format_version"));
    if (version < kOldestReadableFormatVersion || version > kFormatVersion) {
      return FailedPrecondition(path + ": unsupported format_version " + std::to_string(version) +
                                " (this build reads " +
                                std::to_string(kOldestReadableFormatVersion) + " to " +
                                std::to_string(kFormatVersion) + ")");
    }
    meta.format_version = static_cast<int>(version);
    if (version >= 2) {
      const std::string dtype = j.at("feature_dtype").get<std::string>();
      if (dtype == "uint8") {
        meta.encoding = FeatureEncoding::kUint8;
      } else if (dtype != "float32") {
        return DataLoss(path + ": unknown feature_dtype '" + dtype +
                        "' (expected uint8 or float32)");
      }
      const Json& scale = j.at("feature_scale");
      if (!scale.is_number() || !std::isfinite(scale.get<double>())) {
        return DataLoss(path + ": feature_scale must be a finite number, got " + scale.dump());
      }
      meta.feature_scale = scale.get<double>();
      if (meta.encoding == FeatureEncoding::kUint8 &&
          !ByteFeatureScaleIsFinite(meta.feature_scale)) {
        return DataLoss(path + ": feature_scale " + scale.dump() +
                        " makes byte features non-finite floats");
      }
    }
    const std::string task = j.at("task").get<std::string>();
    if (task == "classification") {
      meta.task = Task::kClassification;
    } else if (task == "regression") {
      meta.task = Task::kRegression;
    } else {
      return DataLoss(path + ": unknown task '" + task + "'");
    }
    const Json& shape = j.at("feature_shape");
    if (!shape.is_array() || shape.empty()) {
      return DataLoss(path + ": feature_shape must be a non-empty array of integers");
    }
    int64_t example_size = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      ASSIGN_OR_RETURN(int64_t d,
                       AsInt64(shape[i], path + ": feature_shape[" + std::to_string(i) + "]"));
      meta.feature_shape.push_back(d);
    }
    for (int64_t d : meta.feature_shape) {
      if (d <= 0)
        return DataLoss(path + ": feature_shape " + ShapeString(meta.feature_shape) +
                        " has a non-positive dimension");
      // Readers compute prod(feature_shape) * n; a product past 2^48 is no real store.
      if (example_size > (int64_t{1} << 48) / d) {
        return DataLoss(path + ": feature_shape " + ShapeString(meta.feature_shape) +
                        " is too large");
      }
      example_size *= d;
    }
    ASSIGN_OR_RETURN(meta.num_classes, AsInt64(j.at("num_classes"), path + ": num_classes"));
    if (meta.task == Task::kClassification && meta.num_classes < 1) {
      return DataLoss(path + ": num_classes must be >= 1 for classification");
    }
    const Json& seed = j.at("seed");
    if (!seed.is_number_unsigned()) {
      return DataLoss(path + ": seed must be a non-negative integer, got " + seed.dump());
    }
    meta.seed = seed.get<uint64_t>();
    ASSIGN_OR_RETURN(meta.train, ParsePartitions(j.at("train"), path + ": train"));
    ASSIGN_OR_RETURN(meta.val, ParsePartitions(j.at("val"), path + ": val"));
    if (meta.train.empty()) return DataLoss(path + ": no train partitions");
  } catch (const Json::exception& e) {
    return DataLoss(path + ": " + e.what());
  }
  return meta;
}

namespace {

// LoadPartition and MapPartition: the features read into the vectors, or mapped.
StatusOr<Dataset> LoadOrMapPartition(const std::string& dir, const std::string& kind, int index,
                                     bool map) {
  if (kind != "train" && kind != "val") {
    return InvalidArgument("partition kind must be 'train' or 'val', got '" + kind + "'");
  }
  ASSIGN_OR_RETURN(StoreMeta meta, ReadStoreMeta(dir));
  const std::vector<PartitionInfo>& parts = kind == "train" ? meta.train : meta.val;
  if (index < 0 || index >= static_cast<int>(parts.size())) {
    return InvalidArgument(dir + ": " + kind + " partition " + std::to_string(index) +
                           " out of range; the store has " + std::to_string(parts.size()));
  }
  const PartitionInfo& part = parts[index];
  const int64_t n = part.num_examples;
  Dataset d;
  d.task = meta.task;
  d.feature_shape = meta.feature_shape;
  d.num_classes = meta.task == Task::kClassification ? meta.num_classes : 0;

  const std::string x_path = JoinPath(dir, part.x_file);
  ASSIGN_OR_RETURN(internal::NpyFile x, internal::NpyFile::Open(x_path));
  std::vector<int64_t> x_shape = {n};
  x_shape.insert(x_shape.end(), meta.feature_shape.begin(), meta.feature_shape.end());
  const bool bytes = meta.encoding == FeatureEncoding::kUint8;
  const char* x_dtype = bytes ? "|u1" : "<f4";
  if (x.dtype() != x_dtype || x.shape() != x_shape) {
    return DataLoss(x_path + ": dtype " + x.dtype() + " shape " + ShapeString(x.shape()) +
                    " does not match meta.json (" + x_dtype + " " + ShapeString(x_shape) + ")");
  }
  d.encoding = meta.encoding;
  if (bytes) d.byte_feature_scale = meta.feature_scale;
  // A payload off a 64-byte boundary (a hand-written .npy) is read instead: the views over
  // it want aligned floats.
  if (map && x.payload_offset() % 64 == 0) {
    ASSIGN_OR_RETURN(d.mapping, x.MapReadOnly());
    d.mapped = static_cast<const char*>(d.mapping.get()) + x.payload_offset();
    d.mapped_values = static_cast<int64_t>(x.payload_bytes() / (bytes ? 1 : sizeof(float)));
  } else if (bytes) {
    d.byte_features.resize(x.payload_bytes());
    RETURN_IF_ERROR(x.ReadPayload(d.byte_features.data()));
  } else {
    d.features.resize(x.payload_bytes() / sizeof(float));
    RETURN_IF_ERROR(x.ReadPayload(d.features.data()));
  }

  const std::string y_path = JoinPath(dir, part.y_file);
  ASSIGN_OR_RETURN(internal::NpyFile y, internal::NpyFile::Open(y_path));
  const char* y_dtype = meta.task == Task::kClassification ? "<i8" : "<f4";
  if (y.dtype() != y_dtype || y.shape() != std::vector<int64_t>{n}) {
    return DataLoss(y_path + ": dtype " + y.dtype() + " shape " + ShapeString(y.shape()) +
                    " does not match meta.json (" + y_dtype + " [" + std::to_string(n) + "])");
  }
  if (meta.task == Task::kClassification) {
    d.int_labels.resize(static_cast<size_t>(n));
    RETURN_IF_ERROR(y.ReadPayload(d.int_labels.data()));
    for (int64_t i = 0; i < n; ++i) {
      if (d.int_labels[i] < 0 || d.int_labels[i] >= meta.num_classes) {
        return DataLoss(y_path + ": label " + std::to_string(d.int_labels[i]) + " at row " +
                        std::to_string(i) + " is outside [0, " + std::to_string(meta.num_classes) +
                        ")");
      }
    }
  } else {
    d.float_labels.resize(static_cast<size_t>(n));
    RETURN_IF_ERROR(y.ReadPayload(d.float_labels.data()));
  }
  return d;
}

}  // namespace

StatusOr<Dataset> LoadPartition(const std::string& dir, const std::string& kind, int index) {
  return LoadOrMapPartition(dir, kind, index, /*map=*/false);
}

StatusOr<Dataset> MapPartition(const std::string& dir, const std::string& kind, int index) {
  return LoadOrMapPartition(dir, kind, index, /*map=*/true);
}


namespace internal {

const char* TaskName(Task t) {
  return t == Task::kClassification ? "classification" : "regression";
}

nlohmann::json SourceToJson(const SourceSpec& s) {
  return nlohmann::json{{"format", s.format},
              {"train_path", s.train_path},
              {"train_labels_path", s.train_labels_path},
              {"val_path", s.val_path},
              {"val_labels_path", s.val_labels_path},
              {"val_fraction", s.val_fraction},
              {"csv_header", s.csv_header},
              {"csv_label_column", s.csv_label_column},
              {"csv_delimiter", std::string(1, s.csv_delimiter)},
              {"libsvm_num_features", s.libsvm_num_features},
              {"feature_scale", s.feature_scale},
              {"task", TaskName(s.task)}};
}

// Which source files the store was made from, as far as stat() tells: path, size and
// modification time (nanoseconds), so a store says what it was prepared from.
nlohmann::json SourceFilesToJson(const SourceSpec& s) {
  nlohmann::json files = nlohmann::json::array();
  for (const std::string* path :
       {&s.train_path, &s.train_labels_path, &s.val_path, &s.val_labels_path}) {
    if (path->empty()) continue;
    struct stat st;
    if (::stat(path->c_str(), &st) != 0) continue;  // read moments ago; gone is not our error
    files.push_back(nlohmann::json{
        {"path", *path},
        {"bytes", static_cast<uint64_t>(st.st_size)},
        {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec}});
  }
  return files;
}

}  // namespace internal
}  // namespace cerebro::data

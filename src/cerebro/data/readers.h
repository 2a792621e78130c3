// Readers for the raw formats Cerebro ingests: IDX (MNIST-style, optionally gzip'd),
// CSV and LibSVM; and the .npy writer/reader used by the partitioned store.
// Every error names the file (and the line or record where it applies). Stateless.
#pragma once

#include <string>

#include "cerebro/common/file_system.h"
#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::data {

// Reads a whole file, transparently gunzipping names ending in ".gz".
StatusOr<std::string> ReadMaybeGzip(const std::string& path);

// IDX images (ubyte, rank >= 2) + labels (ubyte, rank 1). feature_shape becomes
// {1, rows, cols} for rank-3 images. Features are scaled by `feature_scale`.
StatusOr<Dataset> ReadIdx(const std::string& images_path, const std::string& labels_path,
                          double feature_scale);

StatusOr<Dataset> ReadCsv(const std::string& path, const SourceSpec& spec);
StatusOr<Dataset> ReadLibSvm(const std::string& path, const SourceSpec& spec);

// Dispatches on spec.format for the train (or, with `validation`, the val) source.
StatusOr<Dataset> ReadSource(const SourceSpec& spec, bool validation);

// .npy v1.0 (little endian, C order). dtype "<f4" or "<i8" (the store writes its
// "|u1" features itself, straight from the rows it gathers). `data` holds prod(shape)
// elements. The file is replaced atomically (temp file, fsync, rename) through `fs`
// (RealFileSystem() for the overloads without one).
Status WriteNpyFloat(const std::string& path, const std::vector<int64_t>& shape,
                     const float* data);
Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& shape,
                     const int64_t* data);
Status WriteNpyFloat(FileSystem& fs, const std::string& path, const std::vector<int64_t>& shape,
                     const float* data);
Status WriteNpyInt64(FileSystem& fs, const std::string& path, const std::vector<int64_t>& shape,
                     const int64_t* data);
struct NpyArray {
  std::string dtype;            // "<f4", "<i8" or "|u1"
  std::vector<int64_t> shape;
  std::string bytes;            // raw little-endian payload
};
// Reads a v1.0/v2.0 .npy file. NotFound if missing; DataLoss naming the file if it is
// truncated or malformed; InvalidArgument for fortran_order True or another dtype.
StatusOr<NpyArray> ReadNpy(const std::string& path);

}  // namespace cerebro::data

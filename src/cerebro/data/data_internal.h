// Helpers shared by the readers, the .npy codec and the store. Internal to the data
// module (not installed, not included from other modules). Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::data::internal {

// Owns a POSIX file descriptor; closes it on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// "path: what: strerror". NotFound for ENOENT; InvalidArgument where the path itself is
// what is wrong (ELOOP: a symlink loop, ENOTDIR, ENAMETOOLONG, EACCES, EISDIR): the user
// named something that cannot be read, which is bad input (exit 2), not a failing disk;
// IoError otherwise.
Status ErrnoError(const std::string& path, const std::string& what, int err);

// Opens `path` read-only. NotFound if it does not exist.
StatusOr<ScopedFd> OpenForRead(const std::string& path);

// Size of an open file in bytes.
StatusOr<uint64_t> FileSizeOf(int fd, const std::string& path);

// Reads until `n` bytes or end of file; returns the number read (< n only at EOF).
StatusOr<size_t> ReadUpTo(int fd, void* dst, size_t n, const std::string& path);

// Hash64 (common/rng.h) of the whole file, read through a read-only mapping: the page
// cache serves it and the process holds no copy. DataLoss if its size is no longer
// `expected_bytes` (it changed since it was listed).
StatusOr<uint64_t> HashFileContents(const std::string& path, uint64_t expected_bytes);

// Writes all `n` bytes (retrying short writes and EINTR).
Status WriteAll(int fd, const void* src, size_t n, const std::string& path);

// True for names ending in ".gz" (ReadMaybeGzip gunzips those).
bool IsGzipName(const std::string& path);
// Decompresses gzip file `path` into `out_path` (created or truncated) through a fixed
// buffer. Errors as ReadMaybeGzip's, naming `path`.
Status GunzipToFile(const std::string& path, const std::string& out_path);

// Strips ASCII spaces, tabs and a trailing '\r'.
std::string_view Trim(std::string_view s);

// Parses the whole token as a finite float (a leading '+' is accepted).
bool ParseFiniteFloat(std::string_view s, float* out);

// Parses a classification label: a non-negative integer, written as "3" or "3.0".
// `where` ("file:line") prefixes the error message.
Status ParseClassLabel(std::string_view s, const std::string& where, int64_t* out);

// Sets num_classes = max label + 1 (0 for an empty or regression dataset).
void SetNumClasses(Dataset* d);

// Where the largest class label of a source is, kept while a text reader parses it (a
// reader does not keep line numbers per example).
struct LargestLabel {
  int64_t value = -1;
  int64_t line = 0;
  void See(int64_t label, int64_t at_line) {
    if (label > value) {
      value = label;
      line = at_line;
    }
  }
};

// Class labels index the output layer, whose width is the largest label + 1. Refuses
// (InvalidArgument: `where_largest`, e.g. "file:line", the value, the distinct count and
// the rule) a classification dataset whose largest label + 1 exceeds both 2 x and 100 +
// the number of distinct labels: such a label is a stray value or a wrong column, and it
// would silently make a mostly-unused output layer (1,000,001-way for one label 1000000).
// Sparse but plausible label sets (10 classes numbered 1..10, 150 used of 200) pass.
// OK for regression.
Status CheckDenseLabels(const Dataset& d, const std::string& where_largest);

// Converts int labels to float labels when `task` is regression (IDX labels are read as
// integers first).
void ApplyTask(Task task, Dataset* d);

// In-memory forms of ReadIdx, ReadCsv and ReadLibSvm: the file-based readers load the
// (already gunzipped) bytes and call these. The path arguments only name the sources in
// error messages. Used directly by the fuzz targets in fuzz/.
StatusOr<Dataset> ParseIdxBytes(const std::string& images_path, const std::string& image_bytes,
                                const std::string& labels_path, const std::string& label_bytes,
                                double feature_scale);
// The magic and dimensions of an IDX file from its first `have` bytes `p` (all of them
// when the file is shorter than its header); `file_size` is the whole (uncompressed) size,
// checked against the dimensions. Errors as ParseIdxBytes's.
struct IdxHeader {
  std::vector<int64_t> dims;
  uint64_t header_bytes = 0;  // where the data starts
};
StatusOr<IdxHeader> ParseIdxHeader(const std::string& path, const uint8_t* p, size_t have,
                                   uint64_t file_size);
// ParseIdxBytes without the pixels: shape, encoding, scale, labels and classes, checked
// against the images' header; byte_features left empty.
StatusOr<Dataset> IdxWithoutPixels(const std::string& images_path, const IdxHeader& images,
                                   const std::string& labels_path, const std::string& label_bytes,
                                   double feature_scale);
StatusOr<Dataset> ParseCsvText(const std::string& path, const std::string& text,
                               const SourceSpec& spec);
StatusOr<Dataset> ParseLibSvmText(const std::string& path, const std::string& text,
                                  const SourceSpec& spec);

}  // namespace cerebro::data::internal

namespace cerebro::data::internal {

// An open .npy file whose header has been parsed and checked against the file size.
// Lets LoadPartition read the payload straight into its destination buffer (one read,
// no intermediate copy). Move-only; not thread-safe.
class NpyFile {
 public:
  // NotFound if missing; DataLoss (naming the file) for a bad magic, a malformed header
  // or a file size that does not match the shape; InvalidArgument for fortran_order
  // True or a dtype other than "<f4"/"<i8"/"|u1".
  static StatusOr<NpyFile> Open(const std::string& path);

  const std::string& dtype() const { return dtype_; }  // "<f4", "<i8" or "|u1"
  const std::vector<int64_t>& shape() const { return shape_; }
  size_t payload_bytes() const { return payload_bytes_; }
  // Reads exactly payload_bytes() into dst.
  Status ReadPayload(void* dst);
  // Where the payload starts in the file (64-byte aligned in files numpy or we write).
  uint64_t payload_offset() const { return payload_offset_; }
  // The whole file mapped read-only (MAP_PRIVATE | MAP_POPULATE); the pointer is the
  // file's first byte and the mapping is removed when the last copy goes.
  StatusOr<std::shared_ptr<const void>> MapReadOnly() const;

 private:
  NpyFile() = default;
  std::string path_;
  ScopedFd fd_;
  std::string dtype_;
  std::vector<int64_t> shape_;
  size_t payload_bytes_ = 0;
  uint64_t payload_offset_ = 0;
};

// The .npy v1.0 header (magic, version, length, dict padded to 64 bytes, '\n').
std::string EncodeNpyHeader(const std::string& dtype, const std::vector<int64_t>& shape);

// The store format partition_store.cc writes: 2 added feature_dtype/feature_scale (byte
// features); format 1 stores are float32 and still read.
constexpr int kStoreFormatVersion = 2;

const char* TaskName(Task t);  // "classification" | "regression"
// meta.json's "source" (the spec's data section) and "source_files" (path, bytes,
// mtime_ns of each file that stat() finds).
nlohmann::json SourceToJson(const SourceSpec& s);
nlohmann::json SourceFilesToJson(const SourceSpec& s);

// A source as Prepare reads it: `meta()` is the Dataset with everything but (for sources
// read by rows) the features; Gather copies features of examples by index. So an IDX
// source is never held whole: its pixels are read by row from the (uncompressed) file.
// Not thread-safe.
class RowSource {
 public:
  virtual ~RowSource() = default;
  const Dataset& meta() const { return meta_; }
  size_t row_bytes() const;  // one example's features in the source's encoding
  // Copies the features of examples idx[0..count) to dst, row after row.
  virtual Status Gather(const int64_t* idx, int64_t count, char* dst) const = 0;

 protected:
  Dataset meta_;
};

// ReadSource's examples by row: IDX images are read by row from the file (a ".gz" one is
// first decompressed to `scratch_dir`/.source-{train,val}.idx, which the caller removes);
// other formats are read whole (ReadSource) and gathered from memory. Errors as
// ReadSource's.
StatusOr<std::unique_ptr<RowSource>> ReadSourceRows(const SourceSpec& spec, bool validation,
                                                    const std::string& scratch_dir);

}  // namespace cerebro::data::internal

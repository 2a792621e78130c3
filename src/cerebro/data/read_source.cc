// ReadSource: dispatch on the source format and attach the task; ReadSourceRows: the same
// examples, IDX pixels read by row from the file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cerebro/common/file_system.h"
#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {
namespace {

// The task, and for classification the dense-label check on the largest label (checked
// here, not in the IDX reader: IDX labels are read before the task is known, and a
// regression target may be any byte value).
Status FinishIdx(const SourceSpec& spec, const std::string& labels, Dataset* d) {
  internal::ApplyTask(spec.task, d);
  if (d->task == Task::kClassification) {
    const auto largest = std::max_element(d->int_labels.begin(), d->int_labels.end());
    RETURN_IF_ERROR(internal::CheckDenseLabels(
        *d, labels + ": item " + std::to_string(largest - d->int_labels.begin())));
  }
  return Status::Ok();
}

// A source read whole: rows are copied from its vectors.
class MemoryRows : public internal::RowSource {
 public:
  explicit MemoryRows(Dataset d) { meta_ = std::move(d); }
  Status Gather(const int64_t* idx, int64_t count, char* dst) const override {
    const size_t row = row_bytes();
    const char* src = meta_.encoding == FeatureEncoding::kUint8
                          ? reinterpret_cast<const char*>(meta_.byte_features.data())
                          : reinterpret_cast<const char*>(meta_.features.data());
    for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * row, src + idx[i] * row, row);
    return Status::Ok();
  }
};

// IDX pixels read by row (pread) from an uncompressed IDX file; the page cache, not this
// process, holds the file.
class IdxFileRows : public internal::RowSource {
 public:
  IdxFileRows(Dataset meta, internal::ScopedFd fd, uint64_t data_offset, std::string path)
      : fd_(std::move(fd)), offset_(data_offset), path_(std::move(path)) {
    meta_ = std::move(meta);
  }
  Status Gather(const int64_t* idx, int64_t count, char* dst) const override {
    const size_t row = row_bytes();
    for (int64_t i = 0; i < count; ++i) {
      const off_t at = static_cast<off_t>(offset_ + static_cast<uint64_t>(idx[i]) * row);
      size_t done = 0;
      while (done < row) {
        ssize_t got = ::pread(fd_.get(), dst + i * row + done, row - done, at + done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return internal::ErrnoError(path_, "read", errno);
        if (got == 0) return DataLoss(path_ + ": IDX file shrank while being read");
        done += static_cast<size_t>(got);
      }
    }
    return Status::Ok();
  }

 private:
  internal::ScopedFd fd_;
  uint64_t offset_;
  std::string path_;
};

StatusOr<std::unique_ptr<internal::RowSource>> IdxRows(const SourceSpec& spec,
                                                       const std::string& path,
                                                       const std::string& labels,
                                                       const std::string& scratch) {
  if (labels.empty()) {
    return InvalidArgument(path + ": IDX images need a labels file; none was given");
  }
  std::string file = path;
  if (internal::IsGzipName(path)) {
    file = scratch;
    RETURN_IF_ERROR(internal::GunzipToFile(path, file));
  }
  ASSIGN_OR_RETURN(internal::ScopedFd fd, internal::OpenForRead(file));
  ASSIGN_OR_RETURN(uint64_t size, internal::FileSizeOf(fd.get(), file));
  uint8_t head[4 + 4 * 255];  // the longest IDX header
  ASSIGN_OR_RETURN(size_t have, internal::ReadUpTo(fd.get(), head, sizeof(head), file));
  ASSIGN_OR_RETURN(internal::IdxHeader header, internal::ParseIdxHeader(path, head, have, size));
  ASSIGN_OR_RETURN(std::string label_bytes, ReadMaybeGzip(labels));
  ASSIGN_OR_RETURN(Dataset d, internal::IdxWithoutPixels(path, header, labels, label_bytes,
                                                         spec.feature_scale));
  RETURN_IF_ERROR(FinishIdx(spec, labels, &d));
  std::unique_ptr<internal::RowSource> rows =
      std::make_unique<IdxFileRows>(std::move(d), std::move(fd), header.header_bytes, file);
  return rows;
}

}  // namespace

StatusOr<Dataset> ReadSource(const SourceSpec& spec, bool validation) {
  const std::string& path = validation ? spec.val_path : spec.train_path;
  const std::string& labels = validation ? spec.val_labels_path : spec.train_labels_path;
  const char* which = validation ? "val_path" : "train_path";
  if (path.empty()) return InvalidArgument(std::string("data source: ") + which + " is empty");
  if (spec.format == "idx") {
    ASSIGN_OR_RETURN(Dataset d, ReadIdx(path, labels, spec.feature_scale));
    RETURN_IF_ERROR(FinishIdx(spec, labels, &d));
    return d;
  }
  if (spec.format == "csv") return ReadCsv(path, spec);
  if (spec.format == "libsvm") return ReadLibSvm(path, spec);
  return InvalidArgument("data source: unknown format '" + spec.format +
                         "' (expected idx, csv or libsvm)");
}

size_t internal::RowSource::row_bytes() const {
  const size_t item = meta_.encoding == FeatureEncoding::kUint8 ? 1 : sizeof(float);
  return item * static_cast<size_t>(meta_.example_size());
}

StatusOr<std::unique_ptr<internal::RowSource>> internal::ReadSourceRows(
    const SourceSpec& spec, bool validation, const std::string& scratch_dir) {
  const std::string& path = validation ? spec.val_path : spec.train_path;
  if (spec.format == "idx" && !path.empty()) {
    return IdxRows(spec, path, validation ? spec.val_labels_path : spec.train_labels_path,
                   JoinPath(scratch_dir, validation ? ".source-val.idx" : ".source-train.idx"));
  }
  ASSIGN_OR_RETURN(Dataset d, ReadSource(spec, validation));
  std::unique_ptr<RowSource> rows = std::make_unique<MemoryRows>(std::move(d));
  return rows;
}

}  // namespace cerebro::data

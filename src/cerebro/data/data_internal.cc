#include "cerebro/data/data_internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "cerebro/common/rng.h"

namespace cerebro::data::internal {

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Status ErrnoError(const std::string& path, const std::string& what, int err) {
  std::string msg = path + ": " + what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFound(path + ": no such file");
    case ELOOP:
      return InvalidArgument(path + ": " + what + ": a symlink loop (" + std::strerror(err) + ")");
    case ENOTDIR:
    case ENAMETOOLONG:
    case EACCES:
    case EISDIR:
      return InvalidArgument(msg);
    default:
      return IoError(msg);
  }
}

StatusOr<ScopedFd> OpenForRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, "open", errno);
  ScopedFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    return InvalidArgument(path + ": is a directory, expected a file");
  }
  return owned;
}

StatusOr<uint64_t> FileSizeOf(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(path, "stat", errno);
  return static_cast<uint64_t>(st.st_size);
}

StatusOr<size_t> ReadUpTo(int fd, void* dst, size_t n, const std::string& path) {
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    // Large single reads are fine on Linux, but some kernels cap one read at ~2 GiB.
    size_t chunk = std::min<size_t>(n - done, size_t{1} << 30);
    ssize_t got = ::read(fd, out + done, chunk);
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path, "read", errno);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

StatusOr<uint64_t> HashFileContents(const std::string& path, uint64_t expected_bytes) {
  ASSIGN_OR_RETURN(ScopedFd fd, OpenForRead(path));
  ASSIGN_OR_RETURN(uint64_t bytes, FileSizeOf(fd.get(), path));
  if (bytes != expected_bytes) {
    return DataLoss(path + ": changed size while being read (" + std::to_string(expected_bytes) +
                    " then " + std::to_string(bytes) + " bytes)");
  }
  if (bytes == 0) return Hash64(nullptr, 0);
  void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return ErrnoError(path, "mmap", errno);
  ::madvise(p, bytes, MADV_SEQUENTIAL);
  const uint64_t h = Hash64(p, bytes);
  ::munmap(p, bytes);
  return h;
}

Status WriteAll(int fd, const void* src, size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(src);
  size_t done = 0;
  while (done < n) {
    ssize_t put = ::write(fd, p + done, n - done);
    if (put < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path, "write", errno);
    }
    done += static_cast<size_t>(put);
  }
  return Status::Ok();
}

bool IsGzipName(const std::string& path) {
  return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
}

std::string_view Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

bool ParseFiniteFloat(std::string_view s, float* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  float v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // from_chars reports out-of-range (e.g. 1e60 for float) as an error, which we want.
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

Status ParseClassLabel(std::string_view s, const std::string& where, int64_t* out) {
  std::string_view t = s;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size() || !std::isfinite(v)) {
    return InvalidArgument(where + ": class label '" + std::string(s) + "' is not a number");
  }
  // Class ids index a softmax output; a label of 2^31 would mean a 2-billion-way output
  // layer, so that is certainly a wrong column rather than a real class.
  if (v < 0 || v != std::floor(v) || v > 2147483647.0) {
    return InvalidArgument(where + ": class label '" + std::string(s) +
                           "' must be a non-negative integer (remap labels such as -1/+1 "
                           "to 0/1, or use task regression)");
  }
  *out = static_cast<int64_t>(v);
  return Status::Ok();
}

void SetNumClasses(Dataset* d) {
  if (d->task != Task::kClassification || d->int_labels.empty()) {
    d->num_classes = 0;
    return;
  }
  d->num_classes = *std::max_element(d->int_labels.begin(), d->int_labels.end()) + 1;
}

Status CheckDenseLabels(const Dataset& d, const std::string& where_largest) {
  if (d.task != Task::kClassification || d.int_labels.empty()) return Status::Ok();
  const int64_t n = static_cast<int64_t>(d.int_labels.size());
  const int64_t largest = *std::max_element(d.int_labels.begin(), d.int_labels.end());
  const int64_t width = largest + 1;
  // distinct <= n, so a width within max(2n, n + 100) is all a bitmap ever needs; past
  // it the labels are refused anyway and a sorted copy counts them for the message.
  int64_t distinct = 0;
  if (width <= std::max(2 * n, n + 100)) {
    std::vector<bool> seen(static_cast<size_t>(width), false);
    for (int64_t label : d.int_labels) {
      if (!seen[label]) {
        seen[label] = true;
        ++distinct;
      }
    }
  } else {
    std::vector<int64_t> sorted = d.int_labels;
    std::sort(sorted.begin(), sorted.end());
    distinct = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
  }
  if (width <= 2 * distinct || width <= distinct + 100) return Status::Ok();
  return InvalidArgument(where_largest + ": class label " + std::to_string(largest) +
                         " would make a " + std::to_string(width) + "-way output layer for " +
                         std::to_string(distinct) +
                         " distinct labels (refused when the largest label + 1 exceeds both "
                         "twice and 100 more than the number of distinct labels); class labels "
                         "are ids 0..K-1: is it a stray value or the wrong label column?");
}

void ApplyTask(Task task, Dataset* d) {
  if (task == d->task) return;
  if (task == Task::kRegression) {
    d->float_labels.assign(d->int_labels.begin(), d->int_labels.end());
    d->int_labels.clear();
    d->num_classes = 0;
  }
  d->task = task;
}

}  // namespace cerebro::data::internal

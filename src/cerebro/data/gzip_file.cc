// ReadMaybeGzip: whole-file reads, gunzipping ".gz" names with zlib.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <vector>

#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// The gzip ISIZE trailer (last 4 bytes, little endian); 0 when the file is too short.
// Read with pread so the descriptor's offset stays at the start for gzdopen.
StatusOr<uint64_t> TrailerSize(int fd, uint64_t file_size, const std::string& path) {
  if (file_size < 18) return uint64_t{0};  // smaller than a minimal gzip member
  unsigned char b[4];
  ssize_t got = ::pread(fd, b, sizeof(b), static_cast<off_t>(file_size - 4));
  if (got < 0) return internal::ErrnoError(path, "read", errno);
  if (got != 4) return uint64_t{0};
  return uint64_t{b[0]} | (uint64_t{b[1]} << 8) | (uint64_t{b[2]} << 16) | (uint64_t{b[3]} << 24);
}

using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Opens `fd`'s file as a gzip stream (its own descriptor: `fd` stays open and at offset 0).
StatusOr<GzFile> OpenGzip(int fd, const std::string& path) {
  int raw = ::dup(fd);
  if (raw < 0) return internal::ErrnoError(path, "dup", errno);
  GzFile gz(gzdopen(raw, "rb"));
  if (gz == nullptr) {
    ::close(raw);
    return IoError(path + ": cannot open gzip stream");
  }
  gzbuffer(gz.get(), 1 << 17);
  return gz;
}

Status GzipReadError(gzFile gz, const std::string& path) {
  int err = 0;
  const char* msg = gzerror(gz, &err);
  return DataLoss(path + ": corrupt or truncated gzip data: " + (msg ? msg : "unknown error"));
}

// A stream cut short ends with Z_BUF_ERROR ("unexpected end of file") rather than a
// failed read; treat it as truncation.
Status GzipEndStatus(gzFile gz, const std::string& path) {
  int err = Z_OK;
  gzerror(gz, &err);
  if (err != Z_OK && err != Z_STREAM_END) return GzipReadError(gz, path);
  return Status::Ok();
}

StatusOr<std::string> ReadGzip(const std::string& path) {
  // Open ourselves first so a missing file is reported as NotFound from errno, which
  // gzopen does not reliably preserve.
  ASSIGN_OR_RETURN(internal::ScopedFd fd, internal::OpenForRead(path));
  ASSIGN_OR_RETURN(uint64_t compressed_size, internal::FileSizeOf(fd.get(), path));
  ASSIGN_OR_RETURN(GzFile gz, OpenGzip(fd.get(), path));

  // A single-member gzip file ends with ISIZE, the uncompressed size mod 2^32: with it
  // the buffer is sized exactly once (growing by doubling would touch up to twice the
  // data's memory). Without it (or when it is wrong) start at 4x and double as needed.
  ASSIGN_OR_RETURN(uint64_t isize, TrailerSize(fd.get(), compressed_size, path));
  std::string out;
  size_t capacity = std::max<uint64_t>(1 << 16, compressed_size * 4);
  // Deflate expands at most ~1032x, so a larger claim is a lie (or a bomb): ignore it.
  if (isize > 0 && isize <= compressed_size * 1032) capacity = isize + 1;  // +1: EOF seen
  out.resize(capacity);
  size_t size = 0;
  while (true) {
    if (size == out.size()) out.resize(out.size() * 2);
    size_t want = std::min<size_t>(out.size() - size, INT_MAX);
    int n = gzread(gz.get(), out.data() + size, static_cast<unsigned>(want));
    if (n < 0) return GzipReadError(gz.get(), path);
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  RETURN_IF_ERROR(GzipEndStatus(gz.get(), path));
  out.resize(size);
  return out;
}

StatusOr<std::string> ReadPlain(const std::string& path) {
  ASSIGN_OR_RETURN(internal::ScopedFd fd, internal::OpenForRead(path));
  ASSIGN_OR_RETURN(uint64_t size, internal::FileSizeOf(fd.get(), path));
  std::string out;
  out.resize(size);
  ASSIGN_OR_RETURN(size_t got, internal::ReadUpTo(fd.get(), out.data(), out.size(), path));
  out.resize(got);
  // The file may have grown since fstat (it should not, but do not silently cut it).
  char extra[4096];
  while (true) {
    ASSIGN_OR_RETURN(size_t more, internal::ReadUpTo(fd.get(), extra, sizeof(extra), path));
    if (more == 0) break;
    out.append(extra, more);
  }
  return out;
}

}  // namespace

Status internal::GunzipToFile(const std::string& path, const std::string& out_path) {
  using internal::ScopedFd;
  ASSIGN_OR_RETURN(ScopedFd fd, internal::OpenForRead(path));
  ASSIGN_OR_RETURN(GzFile gz, OpenGzip(fd.get(), path));
  ScopedFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.get() < 0) return internal::ErrnoError(out_path, "create", errno);
  std::vector<char> buf(size_t{1} << 20);  // a buffer, never the file
  while (true) {
    int n = gzread(gz.get(), buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) return GzipReadError(gz.get(), path);
    if (n == 0) break;
    RETURN_IF_ERROR(internal::WriteAll(out.get(), buf.data(), static_cast<size_t>(n), out_path));
  }
  return GzipEndStatus(gz.get(), path);
}

StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  if (internal::IsGzipName(path)) return ReadGzip(path);
  return ReadPlain(path);
}

}  // namespace cerebro::data

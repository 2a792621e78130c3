#include "cerebro/train/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cerebro/common/rng.h"

namespace cerebro::train {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return IoError(path + ": " + what + ": " + std::strerror(errno));
}

std::string DirOf(const std::string& path) {
  const size_t at = path.find_last_of('/');
  if (at == std::string::npos) return ".";
  return at == 0 ? "/" : path.substr(0, at);
}

}  // namespace

Status VerifyStateBytes(const std::string& path, std::string_view bytes, uint64_t expected_size,
                        uint64_t expected_hash) {
  // No unit ever produces an empty state (the trainer would take one for fresh weights):
  // an empty file is a torn or clobbered checkpoint, whatever the journal says.
  if (bytes.empty()) return DataLoss(path + ": empty state file");
  if (expected_size == 0) return Status::Ok();
  if (bytes.size() == expected_size && Hash64(bytes.data(), bytes.size()) == expected_hash) {
    return Status::Ok();
  }
  return DataLoss(path + ": " + std::to_string(bytes.size()) +
                  " bytes that do not match the journal (" + std::to_string(expected_size) +
                  " bytes, hash " + std::to_string(expected_hash) + ")");
}

StatusOr<std::string> ReadStateFile(const std::string& path, uint64_t expected_size,
                                    uint64_t expected_hash) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return DataLoss(path + ": open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = DataLoss(path + ": stat: " + std::strerror(errno));
    ::close(fd);
    return s;
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shrank under us: the size check below says so
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  RETURN_IF_ERROR(VerifyStateBytes(path, bytes, expected_size, expected_hash));
  return bytes;
}

Status WriteStateFile(const std::string& path, std::string_view bytes, bool durable) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  Status st = Status::Ok();
  for (size_t done = 0; st.ok() && done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = Errno("write", tmp);
    else done += static_cast<size_t>(n);
  }
  if (st.ok() && durable && ::fsync(fd) != 0) st = Errno("fsync", tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("close", tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Errno("rename", path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (!durable) return Status::Ok();
  const std::string dir = DirOf(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open directory", dir);
  const int rc = ::fsync(dfd);
  Status synced = rc == 0 ? Status::Ok() : Errno("fsync directory", dir);
  ::close(dfd);
  return synced;
}

}  // namespace cerebro::train

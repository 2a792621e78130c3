#include "cerebro/store/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cerebro/common/file_system.h"

namespace cerebro::store {
namespace {

std::string Holder(int fd) {
  char buf[32] = {0};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "another process" : "process " + pid;
}

}  // namespace

StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& dir, bool wait) {
  const std::string path = JoinPath(dir, "lock");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path + ": open: " + std::strerror(errno));
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string holder = Holder(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition(dir + ": in use by " + holder +
                                " (a cerebro run or resume owns it; wait for it to end, or stop it)");
    }
    return IoError(path + ": flock: " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds regardless; only the holder's name in others' messages is lost.
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

std::optional<std::string> RunLock::HeldBy(const std::string& dir) {
  const std::string path = JoinPath(dir, "lock");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no run has ever owned it
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  std::optional<std::string> holder;
  if (rc == 0) {
    ::flock(fd, LOCK_UN);
  } else if (errno == EWOULDBLOCK) {
    holder = Holder(fd);
  }
  ::close(fd);
  return holder;
}

RunLock::~RunLock() { ::close(fd_); }

}  // namespace cerebro::store

#include "cerebro/common/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace cerebro {

StatusOr<std::unique_ptr<Wakeup>> Wakeup::Create() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return IoError(std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<Wakeup>(new Wakeup(fd));
}

Wakeup::~Wakeup() { ::close(fd_); }

void Wakeup::Notify() const {
  const uint64_t one = 1;
  // EAGAIN only when the counter would overflow: a notification is pending anyway.
  while (::write(fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

bool Wakeup::Drain() const {
  uint64_t count = 0;
  ssize_t n;
  do {
    n = ::read(fd_, &count, sizeof(count));
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(count)) && count > 0;
}

}  // namespace cerebro

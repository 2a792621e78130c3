#include "cerebro/exec/wake.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cerebro::exec {

namespace {
// poll() on the Wakeup's fd alone; > 0 when readable, 0 on timeout, < 0 on error.
int PollWake(const Wakeup& wake, int timeout_ms) {
  pollfd p{wake.fd(), POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n;
}
}  // namespace

bool WakePending(const Wakeup* wake) { return wake != nullptr && PollWake(*wake, 0) > 0; }

Status SleepUntilWoken(const Wakeup& wake) {
  if (PollWake(wake, -1) < 0) return IoError(std::string("poll: ") + std::strerror(errno));
  return Status::Ok();
}

}  // namespace cerebro::exec

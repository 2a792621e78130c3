// Wakeup: a level-triggered wake-up signal backed by an eventfd. Another thread (or a
// signal handler) calls Notify(); a thread blocked in poll() on fd() alongside its own
// descriptors wakes up; Drain() consumes the pending notifications. This is how the run
// loop, asleep in the backend's wait, is woken by a command (cerebro ctl) without ever
// polling on a timer. Notify() and fd() are thread-safe and async-signal-safe.
#pragma once

#include <memory>

#include "cerebro/common/status.h"

namespace cerebro {

class Wakeup {
 public:
  static StatusOr<std::unique_ptr<Wakeup>> Create();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Makes fd() readable until the next Drain().
  void Notify() const;
  // True if Notify() was called since the last Drain(); never blocks.
  bool Drain() const;
  // Readable (POLLIN) while a notification is pending.
  int fd() const { return fd_; }

 private:
  explicit Wakeup(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cerebro

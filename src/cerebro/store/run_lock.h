// RunLock: one process owns a run directory at a time. An exclusive flock(2) on
// RUN_DIR/lock, held for the object's life; the kernel releases it when the process
// dies however it dies, so a SIGKILLed owner never blocks a later resume. The file holds
// the owner's pid, for the message a refused process prints. Every command that writes a
// run directory (run, resume, replay into it, ctl) holds it; readers (report, status)
// never need it. The lock follows the directory through a rename (it is on the inode),
// which is how a run's staging directory keeps it when published. Not copyable.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cerebro/common/status.h"

namespace cerebro::store {

class RunLock {
 public:
  // Takes the lock on `dir` (which must exist). When another process holds it: with
  // `wait`, blocks until it is free; otherwise FailedPrecondition naming the holder's pid.
  static StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& dir, bool wait);
  // Who holds `dir`'s lock, as its file names it ("process 123", or "another process"),
  // or nullopt when nobody does. For readers (cerebro status): probes with a shared,
  // non-blocking flock dropped at once and creates and writes nothing; in that instant a
  // concurrent Acquire without `wait` may be refused.
  static std::optional<std::string> HeldBy(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cerebro::store

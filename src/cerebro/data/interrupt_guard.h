// InterruptGuard: lets Prepare remove its staging directory when the user presses Ctrl-C
// (SIGINT) or sends SIGTERM, and then die of that signal as the process would have.
// Internal to the data module. One guard is active per process at a time: a second one,
// constructed while another lives (another thread's Prepare), installs nothing.
#pragma once

#include <csignal>

namespace cerebro::data::internal {

// Usage: construct, Arm() just before the staging directory is created, check
// Interrupted() between writes, and after removing the staging directory call Reraise().
// Why deferred and not cleaned up in the handler: removing a directory tree is not
// async-signal-safe; the handler only records the signal.
class InterruptGuard {
 public:
  // Installs a handler for SIGINT and SIGTERM where their disposition is the default. A
  // process that ignores them (nohup) or handles them itself keeps its own: it owns what
  // an interruption means, and Interrupted() stays false.
  InterruptGuard();
  // Restores the dispositions it replaced; a recorded signal that was not re-raised is
  // dropped.
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Before Arm() a signal takes its default action at once: there is nothing to clean
  // up. After it, the first signal is recorded for Interrupted(); a second one (the user
  // insisting) takes the default action at once.
  void Arm();
  bool Interrupted() const;
  // Restores the dispositions and raises the recorded signal again, which ends the
  // process (the default action of SIGINT and SIGTERM). No-op if none was recorded.
  void Reraise();

 private:
  void Restore();

  bool owner_ = false;
  bool replaced_[2] = {false, false};
  struct sigaction previous_[2] = {};
};

}  // namespace cerebro::data::internal

// Ctrl-C for a run driven from Python. While an InterruptScope lives, SIGINT no longer
// reaches Python's handler (the GIL is released, Python could not act on it): it is
// recorded and wakes the run loop, whose backend (wrapped by InterruptibleBackend) then
// ends the wait with Cancelled. The loop finishes as after any error: workers stopped,
// summary.json written with finished=false, the journal intact — a resumable run.
// Workers are started with SIGINT ignored, so a terminal's Ctrl-C (sent to the whole
// process group) stops the run through the driver, never by killing a worker mid-unit.
// The scope is also the run's CommandSource: once the run has started (its observer's
// OnStarted) it serves `cerebro ctl` on the run's control socket (driver/control_server.h)
// and forwards those commands, as `cerebro run` does.
// One scope per process at a time (signal dispositions are process-wide).
#pragma once

#include <signal.h>

#include <memory>
#include <vector>

#include "cerebro/driver/command_source.h"
#include "cerebro/driver/control_server.h"
#include "cerebro/driver/driver.h"
#include "cerebro/driver/run_observer.h"
#include "cerebro/exec/backend.h"
#include "cerebro/exec/backend_factory.h"

namespace cerebro::python {

class InterruptScope final : public driver::CommandSource {
 public:
  // Installs the SIGINT handler; the destructor restores the previous one.
  static StatusOr<std::unique_ptr<InterruptScope>> Create();
  ~InterruptScope() override;
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // Whether SIGINT arrived since Create().
  bool interrupted() const;
  // The run loop's CommandSource: the control server's commands once started; SIGINT
  // notifies both wake-ups.
  const Wakeup& wakeup() const override { return control_ ? control_->wakeup() : *wakeup_; }
  std::vector<driver::IncomingCommand> Take() override;

  // Add to RunOptions::observers: starts the control server when the run starts.
  driver::RunObserver* observer() { return &observer_; }

  // A backend factory wrapping exec::MakeBackend's backend so that its waits end with
  // Cancelled once interrupted, and its workers start with SIGINT ignored.
  driver::BackendFactory WrapBackends() const;

 private:
  class ServeControlOnStart final : public driver::RunObserver {
   public:
    explicit ServeControlOnStart(InterruptScope* scope) : scope_(scope) {}
    Status OnStarted(const driver::RunView& run) override;

   private:
    InterruptScope* scope_;
  };

  explicit InterruptScope(std::unique_ptr<Wakeup> w) : wakeup_(std::move(w)), observer_(this) {}
  std::unique_ptr<Wakeup> wakeup_;
  std::unique_ptr<driver::ControlServer> control_;
  ServeControlOnStart observer_;
  struct sigaction previous_ {};
};

}  // namespace cerebro::python

// CommandSource: where commands for a running experiment come from (the next issue's
// `cerebro ctl` writes them; tests push them directly). The run loop sleeps in the
// backend's wait together with the source's Wakeup and is woken the moment a command
// arrives — it never polls. Each command becomes one journal record (durable before it
// is acknowledged), so it is applied exactly once, also across a crash of the driver.
// Push() is thread-safe; Take() and wakeup() are called by the loop.
#pragma once

#include <memory>
#include <mutex>
#include <variant>
#include <vector>

#include "cerebro/common/wakeup.h"
#include "cerebro/search/procedure.h"

namespace cerebro::driver {

// The same three decisions a procedure can make.
using Command = search::Decision;

class CommandSource {
 public:
  virtual ~CommandSource() = default;
  // Notified whenever commands are waiting.
  virtual const Wakeup& wakeup() const = 0;
  // Every command waiting, oldest first (drains the wakeup).
  virtual std::vector<Command> Take() = 0;
};

// An in-process queue: tests and embedders push commands from any thread.
class QueueCommandSource final : public CommandSource {
 public:
  static StatusOr<std::unique_ptr<QueueCommandSource>> Create();
  void Push(Command command);
  const Wakeup& wakeup() const override { return *wakeup_; }
  std::vector<Command> Take() override;

 private:
  explicit QueueCommandSource(std::unique_ptr<Wakeup> w) : wakeup_(std::move(w)) {}
  std::unique_ptr<Wakeup> wakeup_;
  std::mutex mu_;
  std::vector<Command> queue_;
};

}  // namespace cerebro::driver

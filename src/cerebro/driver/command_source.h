// CommandSource: where commands for a running experiment come from — `cerebro ctl`
// through the run's control socket (driver/control_server.h), or tests pushing them
// directly. The run loop sleeps in the backend's wait together with the source's Wakeup
// and is woken the moment a command arrives — it never polls. Each accepted command
// becomes one journal record, durable before it is acknowledged, so it is applied exactly
// once, also across a crash of the driver. Push() is thread-safe; Take() and wakeup() are
// called by the loop.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "cerebro/common/wakeup.h"
#include "cerebro/search/procedure.h"

namespace cerebro::driver {

// A new model warm-started from `model`'s latest state, with its params but `set`
// overriding some; `epochs` its budget (0 = the source's).
struct CloneModel {
  ModelId model = -1;
  spec::Json set = spec::Json::object();
  int epochs = 0;
};

// The decisions a procedure can make, and a clone.
using Command = std::variant<search::AddModel, search::StopModel, search::ExtendModel, CloneModel>;

// What the loop answers: OK with a line for the user, or why it refused (nothing changed).
using CommandReply = std::function<void(const Status& status, const std::string& message)>;

struct IncomingCommand {
  Command command;
  CommandReply reply;  // may be empty
};

class CommandSource {
 public:
  virtual ~CommandSource() = default;
  // Notified whenever commands are waiting.
  virtual const Wakeup& wakeup() const = 0;
  // Every command waiting, oldest first (drains the wakeup).
  virtual std::vector<IncomingCommand> Take() = 0;
};

// An in-process queue: tests and embedders push commands from any thread.
class QueueCommandSource final : public CommandSource {
 public:
  static StatusOr<std::unique_ptr<QueueCommandSource>> Create();
  void Push(Command command, CommandReply reply = nullptr);
  const Wakeup& wakeup() const override { return *wakeup_; }
  std::vector<IncomingCommand> Take() override;

 private:
  explicit QueueCommandSource(std::unique_ptr<Wakeup> w) : wakeup_(std::move(w)) {}
  std::unique_ptr<Wakeup> wakeup_;
  std::mutex mu_;
  std::vector<IncomingCommand> queue_;
};

}  // namespace cerebro::driver

// ControlServer: the command channel of a live run, for `cerebro ctl`. A Unix socket in a
// directory only the user can enter (/tmp/cerebro-<uid>/, 0700; the socket 0600), whose
// path the run directory names in RUN_DIR/control; the peer's uid is checked
// (SO_PEERCRED) too, so only the run's owner can steer it. One thread accepts
// connections; a client sends one line of JSON (ParseControlCommand) and gets one line
// back once the run loop has journaled the command ("ok: ...") or refused it
// ("error: ..."). It is the loop's CommandSource. Removing it removes the socket and the
// RUN_DIR/control file; a run that crashed leaves them, and a client then finds nobody
// listening ("not running").
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/common/wakeup.h"
#include "cerebro/driver/command_source.h"

namespace cerebro::driver {

// One command line: {"command": "stop", "model": 3}, {"command": "extend", "model": 3,
// "epochs": 8}, {"command": "add", "params": {...}, "epochs": 5 (optional)},
// {"command": "clone", "model": 3, "set": {"lr": 1e-4}, "epochs": 5 (optional)}.
// InvalidArgument naming the field.
StatusOr<Command> ParseControlCommand(const std::string& line);

class ControlServer final : public CommandSource {
 public:
  // Listens for `run_dir` (which must exist) and writes RUN_DIR/control.
  static StatusOr<std::unique_ptr<ControlServer>> Start(const std::string& run_dir);
  ~ControlServer() override;

  const Wakeup& wakeup() const override { return *wakeup_; }
  std::vector<IncomingCommand> Take() override;

 private:
  ControlServer() = default;
  void Serve();
  void HandleConnection(int fd);

  std::string run_dir_, socket_path_;
  int listen_fd_ = -1;
  std::unique_ptr<Wakeup> wakeup_;  // commands waiting (the loop's)
  std::unique_ptr<Wakeup> stop_;    // the server's thread is to end
  std::thread thread_;
  std::mutex mu_;
  std::vector<IncomingCommand> queue_;
};

// The client side: sends `command_json` to the run in `run_dir` and returns the reply
// line. FailedPrecondition "RUN: not running" when no run serves it.
StatusOr<std::string> SendControlCommand(const std::string& run_dir, const std::string& command_json);

}  // namespace cerebro::driver

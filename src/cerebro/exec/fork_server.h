// ForkServer: a copy of this process, forked while it still has one thread, that forks
// local workers on request instead of the driver exec()ing cerebro-worker.
//
// Why: LibTorch's static initialisers build ~42 MB of operator tables on the heap of every
// process that loads it, plus ~13 MB of relocated data; an exec'd worker builds and keeps
// its own copy. A worker forked from the server starts with the driver's copy, shared
// copy-on-write with the driver and every other worker (measured on bench/run.sh
// mlp_aug_4: bench/results/2026-12-01-fork-server.md), and skips the dynamic loading.
//
// Each worker is forked by a short-lived intermediate process, so it is reparented to
// this process, which Spawn() makes a child subreaper: the worker is this process's child
// as an exec'd one would be (waitpid and its exit status, kill, PR_SET_PDEATHSIG on this
// process's death). The server ends when this process closes the channel or dies.
//
// Process-wide: Start() makes at most one server (the process's memory is what it
// serves); LocalBackend asks Get() and uses it only for the default worker (an explicit
// worker binary is always exec'd). Torch-free: the worker's entry point is handed in.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cerebro/common/status.h"

namespace cerebro::exec {

class ForkServer {
 public:
  // What a forked worker runs, with argv as it would get it from exec; its return value
  // is the worker's exit status.
  using Entry = int (*)(int argc, char** argv);
  using Env = std::vector<std::pair<std::string, std::string>>;

  // Forks the server. FailedPrecondition when the process has more than one thread (a
  // fork would copy no other thread and possibly a lock one of them held), IoError when
  // fork or socketpair fail; either way no server exists and workers are exec'd.
  static Status Start(Entry entry);
  // The server Start() made, or nullptr.
  static ForkServer* Get();

  // Forks a worker running entry(args) with `fd` as its descriptor 3 (fd stays open
  // here: the caller closes its copy), `env` set and "cerebro-worker" as its process
  // name. Returns its pid, a child of this process. Thread-safe.
  StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const Env& env, int fd);

  ~ForkServer();

 private:
  ForkServer(int channel, pid_t pid) : channel_(channel), pid_(pid) {}

  std::mutex mu_;
  int channel_;  // SOCK_SEQPACKET to the server; one request, one reply
  pid_t pid_;    // the server
  bool subreaper_ = false;
};

}  // namespace cerebro::exec

#include "cerebro/exec/local_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cerebro/common/clock.h"
#include "cerebro/exec/fork_server.h"
#include "cerebro/exec/unit_outcome.h"
#include "cerebro/exec/wake.h"
#include "cerebro/exec/wire.h"

namespace cerebro::exec {

namespace {

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    std::string s = "killed by signal " + std::to_string(sig);
    if (sig == SIGKILL) s += " (SIGKILL: out of memory or killed)";
    return s;
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

// The worker's thread settings: torch's intra-op count is set in the worker itself; these
// reach the libraries that read their variable when they load (an exec'd worker's).
ForkServer::Env ThreadEnv(const std::string& threads) {
  return {{"OMP_NUM_THREADS", threads}, {"OPENBLAS_NUM_THREADS", threads},
          {"MKL_NUM_THREADS", threads}};
}

// Forks and execs the worker binary args[0] with `fd` as its descriptor 3 and this
// process's environment with `env` set. Everything the child needs is built before the
// fork: after it, the child makes async-signal-safe calls only.
StatusOr<pid_t> ForkExec(std::vector<std::string> args, const ForkServer::Env& env, int fd) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (std::none_of(env.begin(), env.end(), [&](const auto& p) { return p.first == key; })) {
      vars.push_back(kv);
    }
  }
  for (const auto& [key, value] : env) vars.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, 3);  // dup2 clears FD_CLOEXEC on the new descriptor
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "cerebro-worker: exec failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  return pid;
}

}  // namespace

std::string DefaultWorkerBinary() {
  if (const char* env = std::getenv("CEREBRO_WORKER_BINARY"); env != nullptr && *env) return env;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "cerebro-worker";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.find_last_of('/') + 1) + "cerebro-worker";
}

LocalBackend::LocalBackend(LocalBackendOptions options) : options_(std::move(options)) {}

LocalBackend::~LocalBackend() { Shutdown(); }

Status LocalBackend::Spawn(int index) {
  Worker& w = workers_[index];
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return IoError(std::string("socketpair: ") + std::strerror(errno));
  }
  std::string threads = std::to_string(options_.threads_per_worker);
  std::vector<std::string> args = {options_.worker_binary, "--fd", "3", "--threads", threads};
  if (!w.setup.store_dir.empty()) {  // else launched ahead of its data: Start() sends it
    args.insert(args.end(), {"--store", w.setup.store_dir,
                             "--train-partition", std::to_string(w.setup.train_partition),
                             "--val-partition", std::to_string(w.setup.val_partition)});
  }
  ForkServer* server = fork_server_ ? ForkServer::Get() : nullptr;
  StatusOr<pid_t> spawned = server != nullptr ? server->Spawn(args, ThreadEnv(threads), fds[1])
                                              : ForkExec(args, ThreadEnv(threads), fds[1]);
  if (!spawned.ok()) {
    ::close(fds[0]);
    ::close(fds[1]);
    return spawned.status();
  }
  const pid_t pid = *spawned;
  ::close(fds[1]);
  w.pid = pid;
  w.fd = fds[0];
  w.busy = false;
  w.lost = false;
  w.ready = false;
  ++stats_.workers_started;
  return Status::Ok();
}

Status LocalBackend::NotStarted(int index) {
  std::string how;
  Reap(index, &how);
  return Internal("worker " + std::to_string(index) + " (" + options_.worker_binary +
                  ") did not start: " + how);
}

Status LocalBackend::AwaitReady(int index) {
  Worker& w = workers_[index];
  std::string payload;
  if (!ReceiveFrame(w.fd, &payload).ok()) return NotStarted(index);
  std::string how;
  StatusOr<ReadyFrame> ready = ReadyFrame::Decode(payload);
  if (!ready.ok()) {
    ::kill(w.pid, SIGKILL);
    Reap(index, &how);
    return Internal("worker " + std::to_string(index) + ": " + ready.status().message());
  }
  if (!ready->ok) {
    Reap(index, &how);
    return DataLoss(ready->error);
  }
  const std::string& warning = ready->warning;
  if (!warning.empty() &&
      std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end()) {
    warnings_.push_back(warning);
  }
  return Status::Ok();
}

Status LocalBackend::Launch(int n) {
  if (!workers_.empty()) return FailedPrecondition("local backend: already started");
  if (n < 1) return InvalidArgument("local backend: no workers");
  // The default worker comes from this process's fork server when it has one; a worker
  // binary named by the caller or CEREBRO_WORKER_BINARY is always exec'd.
  fork_server_ = options_.worker_binary.empty() &&
                 std::getenv("CEREBRO_WORKER_BINARY") == nullptr && ForkServer::Get() != nullptr;
  if (options_.worker_binary.empty()) options_.worker_binary = DefaultWorkerBinary();
  if (::access(options_.worker_binary.c_str(), X_OK) != 0) {
    return NotFound(options_.worker_binary + ": worker executable not found (build cerebro-worker)");
  }
  workers_.resize(static_cast<size_t>(n));
  // All at once, without a store: they come up side by side while the caller prepares it.
  for (int i = 0; i < n; ++i) RETURN_IF_ERROR(Spawn(i));
  return Status::Ok();
}

Status LocalBackend::Start(const std::vector<WorkerSetup>& setups) {
  if (workers_.empty()) RETURN_IF_ERROR(Launch(static_cast<int>(setups.size())));
  if (std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.ready; })) {
    return FailedPrecondition("local backend: already started");
  }
  if (setups.size() != workers_.size()) {
    return InvalidArgument("local backend: " + std::to_string(setups.size()) + " setups for " +
                           std::to_string(workers_.size()) + " launched workers");
  }
  // Each says it is up and is sent its partitions; then all load them in parallel.
  for (size_t i = 0; i < setups.size(); ++i) {
    const int index = static_cast<int>(i);
    RETURN_IF_ERROR(AwaitReady(index));
    Worker& w = workers_[i];
    w.setup = setups[i];
    LoadFrame load;
    load.store_dir = w.setup.store_dir;
    load.train_partition = w.setup.train_partition;
    load.val_partition = w.setup.val_partition;
    if (!SendFrame(w.fd, load.Encode()).ok()) return NotStarted(index);
  }
  for (size_t i = 0; i < setups.size(); ++i) {
    RETURN_IF_ERROR(AwaitReady(static_cast<int>(i)));
    workers_[i].ready = true;
  }
  return Status::Ok();
}

void LocalBackend::Reap(int index, std::string* how) {
  Worker& w = workers_[index];
  if (w.fd >= 0) ::close(w.fd);
  w.fd = -1;
  if (w.pid > 0) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(w.pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (how) *how = r == w.pid ? DescribeExit(status) : "lost";
  }
  w.pid = -1;
}

Completion LocalBackend::LostCompletion(int index, const std::string& why, FailureCause cause) {
  Worker& w = workers_[index];
  if (w.pid > 0) ::kill(w.pid, SIGKILL);  // make sure it is gone before reaping
  std::string how;
  int pid = w.pid;
  Reap(index, &how);
  w.lost = true;
  w.busy = false;
  ++stats_.workers_lost;
  Completion c;
  c.unit = w.unit;
  c.kind = CompletionKind::kWorkerLost;
  c.cause = cause;
  c.error = "worker " + std::to_string(index) + " (pid " + std::to_string(pid) + ") " + how +
            (why.empty() ? "" : " [" + why + "]");
  return c;
}

Status LocalBackend::Submit(const UnitRequest& req) {
  int index = req.unit.worker;
  if (index < 0 || index >= num_workers()) return InvalidArgument("submit: no such worker");
  Worker& w = workers_[index];
  if (w.busy || w.lost) return FailedPrecondition("submit: worker " + std::to_string(index) + " not idle");
  if (!w.ready) return FailedPrecondition("submit: worker " + std::to_string(index) + " not started");
  w.busy = true;
  w.unit = req.unit;
  double t0 = MonotonicSeconds();
  w.submit_time = t0;
  RunUnitFrame frame;
  frame.model_config_json = req.model_config_json;
  frame.train = req.unit.kind == sched::UnitKind::kTrain;
  frame.init_seed = req.init_seed;
  frame.unit_seed = req.unit_seed;
  if (req.state && req.state_path.empty()) frame.state = *req.state;
  frame.state_path = req.state_path;
  frame.state_size = req.state_size;
  frame.state_hash = req.state_hash;
  frame.out_path = frame.train ? req.out_path : "";
  frame.durable = req.durable;
  Status st = SendFrame(w.fd, frame.Encode());
  w.send_seconds = MonotonicSeconds() - t0;
  if (!st.ok()) {
    pending_.push_back(LostCompletion(index, st.message()));
    return Status::Ok();  // reported by WaitAny() like any other loss
  }
  stats_.state_bytes_sent += frame.state.size();
  return Status::Ok();
}

Completion LocalBackend::Receive(int index) {
  Worker& w = workers_[index];
  double t0 = MonotonicSeconds();
  std::string payload;
  Status st = ReceiveFrame(w.fd, &payload);
  if (!st.ok()) return LostCompletion(index, st.message() == "eof" ? "" : st.message());
  double t_recv = MonotonicSeconds() - t0;
  StatusOr<ResultFrame> result = ResultFrame::Decode(payload);
  if (!result.ok()) return LostCompletion(index, "malformed reply: " + result.status().message());
  const UnitOutcome outcome = ClassifyTrainerCode(result->code);
  if (outcome.kind == CompletionKind::kWorkerLost) {
    return LostCompletion(index, result->error, outcome.cause);
  }
  w.busy = false;
  Completion c;
  c.unit = w.unit;
  c.kind = outcome.kind;
  c.cause = outcome.cause;
  c.error = std::move(result->error);
  c.loss_sum = result->loss_sum;
  c.correct = result->correct;
  c.num_examples = result->num_examples;
  c.compute_seconds = result->compute_seconds;
  c.state_seconds = result->state_seconds;
  c.file_seconds = result->file_seconds;
  c.state.assign(result->state.data(), result->state.size());
  c.state_written = c.kind == CompletionKind::kOk && result->written_size > 0;
  c.state_size = result->written_size;
  c.state_hash = result->written_hash;
  c.wall_seconds = MonotonicSeconds() - w.submit_time;
  c.transfer_seconds = w.send_seconds + t_recv;
  stats_.state_bytes_received += c.state.size();
  return c;
}

StatusOr<std::optional<Completion>> LocalBackend::WaitFor(const Wakeup* wake,
                                                         double timeout_seconds) {
  // A pending notification goes first (see Backend::WaitAny), so a command is never
  // starved by a stream of completions.
  if (WakePending(wake)) return std::optional<Completion>();
  if (!pending_.empty()) {
    Completion c = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return std::optional<Completion>(std::move(c));
  }
  std::vector<pollfd> fds;
  std::vector<int> which;
  for (int i = 0; i < num_workers(); ++i) {
    if (workers_[i].busy) {
      fds.push_back({workers_[i].fd, POLLIN, 0});
      which.push_back(i);
    }
  }
  if (fds.empty() && wake == nullptr) return FailedPrecondition("wait: no unit in flight");
  if (wake != nullptr) fds.push_back({wake->fd(), POLLIN, 0});
  const double deadline = timeout_seconds >= 0 ? MonotonicSeconds() + timeout_seconds : -1;
  while (true) {
    // Blocks: woken only by a worker's reply or death, the Wakeup, or the timeout.
    int ms = -1;
    if (deadline >= 0) ms = static_cast<int>(std::ceil(std::max(0.0, deadline - MonotonicSeconds()) * 1000));
    int n = ::poll(fds.data(), fds.size(), ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("poll: ") + std::strerror(errno));
    }
    if (n == 0) return std::optional<Completion>();  // timed out
    break;
  }
  if (wake != nullptr && fds.back().revents != 0) return std::optional<Completion>();
  for (size_t k = 0; k < which.size(); ++k) {
    if (fds[k].revents != 0) return std::optional<Completion>(Receive(which[k]));
  }
  return Internal("poll returned without a ready worker");
}

Status LocalBackend::RestartWorker(int index) {
  if (index < 0 || index >= num_workers()) return InvalidArgument("restart: no such worker");
  Worker& w = workers_[index];
  if (w.pid > 0) {
    ::kill(w.pid, SIGKILL);
    std::string how;
    Reap(index, &how);
  }
  RETURN_IF_ERROR(Spawn(index));
  RETURN_IF_ERROR(AwaitReady(index));
  w.ready = true;
  return Status::Ok();
}

int LocalBackend::worker_pid(int index) const {
  if (index < 0 || index >= num_workers()) return -1;
  return workers_[index].pid;
}

void LocalBackend::Shutdown() {
  for (int i = 0; i < num_workers(); ++i) {
    Worker& w = workers_[i];
    if (w.fd >= 0 && !w.busy && w.ready) {
      (void)SendFrame(w.fd, QuitFrame().Encode());
    } else if (w.pid > 0) {
      // Mid-unit, or still coming up: nothing to save, the driver is going away.
      ::kill(w.pid, SIGKILL);
    }
    std::string how;
    Reap(i, &how);
  }
  workers_.clear();
}

}  // namespace cerebro::exec

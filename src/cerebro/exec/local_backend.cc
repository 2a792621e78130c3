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
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cerebro/exec/wire.h"

namespace cerebro::exec {

namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

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
  std::vector<std::string> args = {options_.worker_binary,
                                   "--fd", "3",
                                   "--store", w.setup.store_dir,
                                   "--train-partition", std::to_string(w.setup.train_partition),
                                   "--val-partition", std::to_string(w.setup.val_partition),
                                   "--threads", threads};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], 3);  // dup2 clears FD_CLOEXEC on the new descriptor
    ::setenv("OMP_NUM_THREADS", threads.c_str(), 1);
    ::setenv("OPENBLAS_NUM_THREADS", threads.c_str(), 1);
    ::setenv("MKL_NUM_THREADS", threads.c_str(), 1);
    ::execv(argv[0], argv.data());
    const char msg[] = "cerebro-worker: exec failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  w.pid = pid;
  w.fd = fds[0];
  w.busy = false;
  w.lost = false;
  ++stats_.workers_started;
  return Status::Ok();
}

Status LocalBackend::AwaitReady(int index) {
  Worker& w = workers_[index];
  std::string payload;
  Status st = ReceiveFrame(w.fd, &payload);
  std::string how;
  if (!st.ok()) {
    Reap(index, &how);
    return Internal("worker " + std::to_string(index) + " (" + options_.worker_binary +
                    ") did not start: " + how);
  }
  WireReader r(payload);
  uint8_t type = 0, ok = 0;
  std::string warning, error;
  RETURN_IF_ERROR(r.GetU8(&type));
  RETURN_IF_ERROR(r.GetU8(&ok));
  RETURN_IF_ERROR(r.GetBytes(&warning));
  RETURN_IF_ERROR(r.GetBytes(&error));
  if (type != static_cast<uint8_t>(FrameType::kReady)) return Internal("worker: unexpected frame");
  if (!ok) {
    Reap(index, &how);
    return DataLoss(error);
  }
  if (!warning.empty() &&
      std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end()) {
    warnings_.push_back(warning);
  }
  return Status::Ok();
}

Status LocalBackend::Start(const std::vector<WorkerSetup>& setups) {
  if (!workers_.empty()) return FailedPrecondition("local backend: already started");
  if (options_.worker_binary.empty()) options_.worker_binary = DefaultWorkerBinary();
  if (::access(options_.worker_binary.c_str(), X_OK) != 0) {
    return NotFound(options_.worker_binary + ": worker executable not found (build cerebro-worker)");
  }
  workers_.resize(setups.size());
  for (size_t i = 0; i < setups.size(); ++i) workers_[i].setup = setups[i];
  // Spawn all first so the workers load their partitions in parallel.
  for (size_t i = 0; i < setups.size(); ++i) RETURN_IF_ERROR(Spawn(static_cast<int>(i)));
  for (size_t i = 0; i < setups.size(); ++i) RETURN_IF_ERROR(AwaitReady(static_cast<int>(i)));
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

Completion LocalBackend::LostCompletion(int index, const std::string& why) {
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
  c.error = "worker " + std::to_string(index) + " (pid " + std::to_string(pid) + ") " + how +
            (why.empty() ? "" : " [" + why + "]");
  return c;
}

Status LocalBackend::Submit(const UnitRequest& req) {
  int index = req.unit.worker;
  if (index < 0 || index >= num_workers()) return InvalidArgument("submit: no such worker");
  Worker& w = workers_[index];
  if (w.busy || w.lost) return FailedPrecondition("submit: worker " + std::to_string(index) + " not idle");
  w.busy = true;
  w.unit = req.unit;
  double t0 = Now();
  w.submit_time = t0;
  WireWriter msg(FrameType::kRunUnit);
  msg.PutBytes(req.model_config_json);
  msg.PutU8(req.unit.kind == sched::UnitKind::kTrain ? 1 : 0);
  msg.PutU64(req.init_seed);
  msg.PutU64(req.unit_seed);
  std::string_view state = req.state ? std::string_view(*req.state) : std::string_view();
  Status st = SendFrame(w.fd, msg, state, /*has_trailing=*/true);
  w.send_seconds = Now() - t0;
  if (!st.ok()) {
    pending_.push_back(LostCompletion(index, st.message()));
    return Status::Ok();  // reported by WaitAny() like any other loss
  }
  stats_.state_bytes_sent += state.size();
  return Status::Ok();
}

StatusOr<Completion> LocalBackend::WaitAny() {
  if (!pending_.empty()) {
    Completion c = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return c;
  }
  std::vector<pollfd> fds;
  std::vector<int> which;
  for (int i = 0; i < num_workers(); ++i) {
    if (workers_[i].busy) {
      fds.push_back({workers_[i].fd, POLLIN, 0});
      which.push_back(i);
    }
  }
  if (fds.empty()) return FailedPrecondition("wait: no unit in flight");
  while (true) {
    int n = ::poll(fds.data(), fds.size(), -1);  // blocks: woken only by a worker's reply or death
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("poll: ") + std::strerror(errno));
    }
    break;
  }
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    int index = which[k];
    Worker& w = workers_[index];
    double t0 = Now();
    std::string payload;
    Status st = ReceiveFrame(w.fd, &payload);
    if (!st.ok()) return LostCompletion(index, st.message() == "eof" ? "" : st.message());
    double t_recv = Now() - t0;
    WireReader r(payload);
    uint8_t type = 0;
    int64_t code = 0;
    Completion c;
    c.unit = w.unit;
    Status parse = [&]() -> Status {
      RETURN_IF_ERROR(r.GetU8(&type));
      RETURN_IF_ERROR(r.GetI64(&code));
      RETURN_IF_ERROR(r.GetBytes(&c.error));
      RETURN_IF_ERROR(r.GetF64(&c.loss_sum));
      RETURN_IF_ERROR(r.GetF64(&c.correct));
      RETURN_IF_ERROR(r.GetI64(&c.num_examples));
      RETURN_IF_ERROR(r.GetF64(&c.compute_seconds));
      RETURN_IF_ERROR(r.GetF64(&c.state_seconds));
      return r.GetBytes(&c.state);
    }();
    if (!parse.ok() || type != static_cast<uint8_t>(FrameType::kResult)) {
      return LostCompletion(index, "malformed reply: " + parse.message());
    }
    w.busy = false;
    c.kind = code == 0 ? CompletionKind::kOk : CompletionKind::kModelFailed;
    c.wall_seconds = Now() - w.submit_time;
    c.transfer_seconds = w.send_seconds + t_recv;
    stats_.state_bytes_received += c.state.size();
    return c;
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
  return AwaitReady(index);
}

int LocalBackend::worker_pid(int index) const {
  if (index < 0 || index >= num_workers()) return -1;
  return workers_[index].pid;
}

void LocalBackend::Shutdown() {
  for (int i = 0; i < num_workers(); ++i) {
    Worker& w = workers_[i];
    if (w.fd >= 0 && !w.busy) {
      WireWriter quit(FrameType::kQuit);
      (void)SendFrame(w.fd, quit);
    } else if (w.pid > 0) {
      ::kill(w.pid, SIGKILL);  // mid-unit: nothing to save, the driver is going away
    }
    std::string how;
    Reap(i, &how);
  }
  workers_.clear();
}

}  // namespace cerebro::exec

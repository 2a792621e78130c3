#include "cerebro/exec/ray/ray_backend.h"

#include <dlfcn.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "cerebro/common/clock.h"
#include "cerebro/common/rng.h"
#include "cerebro/exec/ray/ray_seam.h"
#include "cerebro/exec/unit_outcome.h"
#include "cerebro/exec/wake.h"

// The ABI-1 half of the Ray seam: it may hold std::string and Status because nothing of
// Ray's C++ API is visible here; libcerebro_ray.so (ABI 0) asserts the opposite.
static_assert(_GLIBCXX_USE_CXX11_ABI == 1,
              "RayBackend is part of ABI-1 Cerebro; Ray's ABI-0 code stays behind ray_seam.h");

namespace cerebro::exec {
namespace {

constexpr size_t kErrCap = 2048;

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.find_last_of('/') + 1);
}

// ray::Init does not fail cleanly on a wrong address (it retries, then aborts the
// process), so check first that something accepts TCP connections there.
Status CheckReachable(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgument("--ray-address: expected HOST:PORT, got '" + address + "'");
  }
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return InvalidArgument("--ray-address: cannot resolve '" + address + "'");
  }
  bool ok = false;
  for (addrinfo* a = res; a != nullptr && !ok; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      ok = ::poll(&p, 1, 5000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (!ok) {
    return FailedPrecondition("ray: nothing accepts connections at " + address +
                              " (is the Ray head running? `ray start --head --port=PORT`)");
  }
  return Status::Ok();
}

// RAY_AUTH_MODE as it was when this process loaded Ray ("" before that, or unset then):
// Ray's runtime reads it once, at load, and a driver in the wrong mode is aborted by
// ray::Init, so Start() checks it first.
std::optional<std::string>& AuthModeAtLoad() {
  static std::optional<std::string> mode;
  return mode;
}

}  // namespace

std::string DefaultRayLibrary() {
  if (const char* env = std::getenv("CEREBRO_RAY_LIBRARY"); env != nullptr && *env) return env;
  std::string beside = SelfDir() + "libcerebro_ray.so";
  if (::access(beside.c_str(), R_OK) == 0) return beside;
#ifdef CEREBRO_RAY_LIBRARY_PATH
  if (::access(CEREBRO_RAY_LIBRARY_PATH, R_OK) == 0) return CEREBRO_RAY_LIBRARY_PATH;
#endif
  return beside;
}

RayBackend::RayBackend(RayBackendOptions options) : options_(std::move(options)) {
  if (options_.library.empty()) options_.library = DefaultRayLibrary();
  if (options_.threads_per_worker < 1) options_.threads_per_worker = 1;
}

RayBackend::~RayBackend() { Shutdown(); }

StatusOr<const CerebroRaySeam*> LoadRaySeam(const std::string& library) {
  // RTLD_LOCAL: Ray's (ABI-0) symbols must not interpose on anything of ours. The
  // library is never unloaded: Ray's runtime keeps threads and atexit hooks in it.
  const char* mode = std::getenv("RAY_AUTH_MODE");
  const std::string mode_now = mode != nullptr ? mode : "";
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr && !AuthModeAtLoad()) AuthModeAtLoad() = mode_now;
  if (handle == nullptr) {
    const char* e = ::dlerror();
    return NotFound("ray backend: cannot load " + library + ": " +
                    (e != nullptr ? e : "dlopen failed") +
                    " (build with Ray, or set CEREBRO_RAY_LIBRARY)");
  }
  using SeamFn = const CerebroRaySeam* (*)();
  auto fn = reinterpret_cast<SeamFn>(::dlsym(handle, "cerebro_ray_seam"));
  if (fn == nullptr) return Internal("ray backend: " + library + " has no cerebro_ray_seam");
  const CerebroRaySeam* seam = fn();
  if (seam == nullptr || seam->version != CEREBRO_RAY_SEAM_VERSION) {
    return FailedPrecondition("ray backend: " + library +
                              " was built for another seam version (rebuild)");
  }
  return seam;
}

std::map<std::string, std::string> RayWorkerEnvironment(int threads, const std::string& library) {
  const std::string t = std::to_string(std::max(1, threads));
  std::map<std::string, std::string> env = {
      {"OMP_NUM_THREADS", t}, {"OPENBLAS_NUM_THREADS", t}, {"MKL_NUM_THREADS", t}};
  // `ray start` LD_PRELOADs its bundled jemalloc into the raylet, and C++ workers inherit
  // it. Measured on the MLP grid here, LibTorch trains ~7% slower on it than on glibc's
  // malloc (bench/results/*-ray-vs-local.md, local_jemalloc arm), so Ray's workers get
  // the allocator that cerebro-worker uses. An empty LD_PRELOAD is how `ray start` is told to skip it; a
  // user's own LD_PRELOAD is left alone.
  if (std::getenv("LD_PRELOAD") == nullptr) env["LD_PRELOAD"] = "";
  if (const char* user = std::getenv("OPENBLAS_CORETYPE"); user != nullptr && *user) {
    env["OPENBLAS_CORETYPE"] = user;
    return env;
  }
  auto seam = LoadRaySeam(library.empty() ? DefaultRayLibrary() : library);
  char core[64] = {0};
  if (seam.ok() && (*seam)->blas_suggested_coretype(core, sizeof(core)) == 1) {
    env["OPENBLAS_CORETYPE"] = core;
  }
  return env;
}

Status RayBackend::Load() {
  if (seam_ != nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(seam_, LoadRaySeam(options_.library));
  return Status::Ok();
}

Status RayBackend::Launch(int n) {
  if (driver_ != nullptr || launched_ > 0) return FailedPrecondition("ray backend: already started");
  if (n < 1) return InvalidArgument("ray backend: no workers");
  // Our own head runs with token auth, and Ray reads the mode once, when its library is
  // loaded (Load() below, unless this process loaded it before: then it must have been
  // in token mode already). A user's cluster: the user's RAY_AUTH_* (README).
  if (options_.address.empty()) ::setenv("RAY_AUTH_MODE", "token", 1);
  RETURN_IF_ERROR(Load());
  if (options_.address.empty() && AuthModeAtLoad().value_or("") != "token") {
    return FailedPrecondition(
        "ray backend: this process loaded Ray with RAY_AUTH_MODE='" +
        AuthModeAtLoad().value_or("") +
        "', but Cerebro's own head needs token mode (Ray reads it once, when loaded): set "
        "RAY_AUTH_MODE=token before the process first uses Ray");
  }
  const int threads = options_.threads_per_worker;
  if (options_.address.empty()) {
    RayHeadOptions ho;
    ho.num_cpus = n * threads;
    // Ray's workers inherit the raylet's environment: give them what cerebro-worker
    // sets for itself (BLAS thread pools of the right size, and the OpenBLAS kernels for
    // this CPU, which a Ray worker cannot re-exec itself to pick up).
    ho.env = RayWorkerEnvironment(threads, options_.library);
    // `ray start` comes up while the caller prepares the data; Start() waits for it.
    ASSIGN_OR_RETURN(head_, LocalRayHead::Launch(ho));
  }
  launched_ = n;
  return Status::Ok();
}

Status RayBackend::Start(const std::vector<WorkerSetup>& setups) {
  if (driver_ != nullptr) return FailedPrecondition("ray backend: already started");
  if (setups.empty()) return InvalidArgument("ray backend: no workers");
  if (launched_ == 0) RETURN_IF_ERROR(Launch(static_cast<int>(setups.size())));
  if (static_cast<int>(setups.size()) != launched_) {
    return InvalidArgument("ray backend: " + std::to_string(setups.size()) + " setups for " +
                           std::to_string(launched_) + " launched workers");
  }
  const int threads = options_.threads_per_worker;
  if (head_) {
    if (Status st = head_->AwaitRunning(); !st.ok()) {
      Shutdown();
      return st;
    }
    address_ = head_->address();
    // The driver resolves its own node address the same way `ray start` did.
    ::setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0", 1);
    // ray::Init loads the token from the path (a RAY_AUTH_TOKEN would win over it).
    for (const auto& [k, v] : head_->AuthEnvironment()) ::setenv(k.c_str(), v.c_str(), 1);
    ::unsetenv("RAY_AUTH_TOKEN");
  } else {
    address_ = options_.address;
    RETURN_IF_ERROR(CheckReachable(address_));
  }
  char err[kErrCap] = {0};
  if (seam_->connect(address_.c_str(), options_.library.c_str(), &driver_, err, sizeof(err)) !=
      CEREBRO_RAY_OK) {
    driver_ = nullptr;
    Status st = Internal("ray: cannot connect to " + address_ + ": " + err);
    Shutdown();
    return st;
  }
  std::vector<CerebroRayWorkerSetup> cs;
  for (const auto& s : setups) {
    cs.push_back({s.store_dir.c_str(), s.train_partition, s.val_partition, threads});
  }
  char warning[kErrCap] = {0};
  workers_.assign(setups.size(), Slot{});
  stats_.workers_started += static_cast<int64_t>(setups.size());
  if (seam_->start_workers(driver_, cs.data(), static_cast<int>(cs.size()), warning,
                           sizeof(warning), err, sizeof(err)) != CEREBRO_RAY_OK) {
    Status st = Internal(std::string("ray: starting the worker actors: ") + err);
    Shutdown();
    return st;
  }
  if (warning[0] != '\0') warnings_.push_back(warning);
  return Status::Ok();
}

void RayBackend::Forget(int model) {
  auto it = known_.find(model);
  if (it == known_.end()) return;
  if (driver_ != nullptr) seam_->release_state(driver_, it->second.id);
  known_.erase(it);
}

Status RayBackend::Submit(const UnitRequest& req) {
  const int index = req.unit.worker;
  if (driver_ == nullptr) return FailedPrecondition("ray backend: not started");
  if (index < 0 || index >= num_workers()) return InvalidArgument("submit: no such worker");
  Slot& w = workers_[index];
  if (w.busy || w.lost) return FailedPrecondition("submit: worker " + std::to_string(index) + " not idle");
  char err[kErrCap] = {0};
  CerebroRayUnit u{};
  u.worker = index;
  u.model_config_json = req.model_config_json.c_str();
  u.train = req.unit.kind == sched::UnitKind::kTrain ? 1 : 0;
  u.init_seed = req.init_seed;
  u.unit_seed = req.unit_seed;
  if (options_.states_by_file) {
    u.state_path = req.state_path.c_str();
    u.state_file_size = req.state_size;
    u.state_file_hash = req.state_hash;
    u.out_path = req.out_path.c_str();
    u.out_durable = req.durable ? 1 : 0;
  }
  const bool state_in_file = options_.states_by_file && !req.state_path.empty();
  if (!state_in_file && req.state && !req.state->empty()) {
    const std::string& bytes = *req.state;
    auto it = known_.find(req.unit.model);
    if (it != known_.end() && it->second.size == bytes.size() &&
        it->second.hash == Hash64(bytes.data(), bytes.size())) {
      u.state = it->second.id;  // the state we returned last: hop actor to actor
    } else {
      // Not ours (a resumed run, a retry after a loss or a corrupt state): ship
      // the driver's bytes.
      if (seam_->put_state(driver_, reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size(), &u.state, err, sizeof(err)) != CEREBRO_RAY_OK) {
        return Internal(std::string("ray: putting a model state: ") + err);
      }
      w.put_state = u.state;
      stats_.state_bytes_sent += bytes.size();
    }
  }
  if (seam_->submit(driver_, &u, err, sizeof(err)) != CEREBRO_RAY_OK) {
    return Internal(std::string("ray: submitting a unit: ") + err);
  }
  w.busy = true;
  w.unit = req.unit;
  return Status::Ok();
}

StatusOr<std::optional<Completion>> RayBackend::WaitFor(const Wakeup* wake,
                                                       double timeout_seconds) {
  if (driver_ == nullptr) return FailedPrecondition("ray backend: not started");
  const bool in_flight =
      std::any_of(workers_.begin(), workers_.end(), [](const Slot& w) { return w.busy; });
  if (!in_flight) {
    if (wake == nullptr) return FailedPrecondition("wait: no unit in flight");
    RETURN_IF_ERROR(SleepUntilWoken(*wake));
    return std::optional<Completion>();
  }
  char err[kErrCap] = {0};
  CerebroRayCompletion rc{};
  const double deadline = timeout_seconds >= 0 ? MonotonicSeconds() + timeout_seconds : -1;
  while (true) {  // slices only with a Wakeup (see the header)
    if (WakePending(wake)) return std::optional<Completion>();
    int ms = wake != nullptr ? kWakeSliceMs : -1;
    if (deadline >= 0) {
      const double left = deadline - MonotonicSeconds();
      if (left <= 0) return std::optional<Completion>();  // timed out
      const int left_ms = static_cast<int>(std::ceil(left * 1000));
      ms = ms < 0 ? left_ms : std::min(ms, left_ms);
    }
    int code = seam_->wait_any(driver_, ms, &rc, err, sizeof(err));
    if (code == CEREBRO_RAY_TIMEOUT) continue;
    if (code == CEREBRO_RAY_NOT_IN_FLIGHT) return Internal("ray: no unit in flight in Ray");
    if (code != CEREBRO_RAY_OK) return Internal(std::string("ray: waiting for units: ") + err);
    return std::optional<Completion>(Finish(rc, err));
  }
}

Completion RayBackend::Finish(const CerebroRayCompletion& rc, const char* err) {
  Slot& w = workers_[rc.worker];
  w.busy = false;
  const bool put = w.put_state != 0;
  if (put) {
    seam_->release_state(driver_, w.put_state);
    w.put_state = 0;
  }
  Completion c;
  c.unit = w.unit;
  c.wall_seconds = rc.wall_seconds;
  const UnitOutcome outcome = rc.kind == CEREBRO_RAY_UNIT_WORKER_LOST
                                  ? UnitOutcome{CompletionKind::kWorkerLost,
                                                FailureCause::kWorkerDied}
                                  : ClassifyTrainerCode(rc.code);
  c.kind = outcome.kind;
  c.cause = outcome.cause;
  if (outcome.kind != CompletionKind::kOk) c.error = err;
  if (outcome.kind == CompletionKind::kWorkerLost) {
    w.lost = true;  // until RestartWorker (which replaces the actor)
    ++stats_.workers_lost;
    // The retry starts from the driver's copy: if a node went down with the actor, the
    // object holding the model's state may have gone with it, and so may every other
    // state that actor produced (their next units ship the driver's bytes instead).
    Forget(c.unit.model);
    std::vector<int> produced_there;
    for (const auto& [model, k] : known_) {
      if (k.worker == rc.worker) produced_there.push_back(model);
    }
    for (int model : produced_there) Forget(model);
    return c;
  }
  c.loss_sum = rc.loss_sum;
  c.correct = rc.correct;
  c.num_examples = rc.num_examples;
  c.compute_seconds = rc.compute_seconds;
  c.state_seconds = rc.state_seconds;
  c.file_seconds = rc.file_seconds;
  c.transfer_seconds = rc.submit_seconds + rc.handoff_seconds + rc.fetch_seconds;
  fetch_seconds_ += rc.fetch_seconds;
  if (!put && rc.handoff_seconds > 0) handoffs_.push_back(rc.handoff_seconds);
  if (outcome.kind == CompletionKind::kRetry) {
    Forget(c.unit.model);  // the state did not decode: retry from the driver's bytes
    return c;
  }
  if (outcome.kind != CompletionKind::kOk) return c;
  if (rc.written_size > 0) {  // the actor wrote it to the unit's out_path
    c.state_written = true;
    c.state_size = rc.written_size;
    c.state_hash = rc.written_hash;
  }
  if (rc.state != 0) {
    c.state.assign(reinterpret_cast<const char*>(rc.state_bytes), rc.state_size);
    stats_.state_bytes_received += rc.state_size;
    Forget(c.unit.model);
    known_[c.unit.model] =
        Known{rc.state, c.state.size(), Hash64(c.state.data(), c.state.size()), rc.worker};
  }
  return c;
}

Status RayBackend::RestartWorker(int index) {
  if (driver_ == nullptr) return FailedPrecondition("ray backend: not started");
  if (index < 0 || index >= num_workers()) return InvalidArgument("restart: no such worker");
  char err[kErrCap] = {0};
  if (seam_->restart_worker(driver_, index, err, sizeof(err)) != CEREBRO_RAY_OK) {
    return Internal("ray: restarting worker " + std::to_string(index) + ": " + err);
  }
  ++stats_.workers_started;
  workers_[index] = Slot{};
  return Status::Ok();
}

int RayBackend::worker_pid(int index) const {
  if (driver_ == nullptr || index < 0 || index >= num_workers()) return -1;
  return seam_->worker_pid(driver_, index);
}

Status RayBackend::MeasureHandoff(size_t bytes, int iterations, std::vector<double>* hop_ms,
                                  std::vector<double>* chain_ms) {
  if (driver_ == nullptr) return FailedPrecondition("ray backend: not started");
  hop_ms->assign(static_cast<size_t>(iterations), 0.0);
  chain_ms->assign(static_cast<size_t>(iterations), 0.0);
  char err[kErrCap] = {0};
  if (seam_->measure_handoff(driver_, bytes, iterations, hop_ms->data(), chain_ms->data(), err,
                             sizeof(err)) != CEREBRO_RAY_OK) {
    return Internal(std::string("ray: hand-off benchmark: ") + err);
  }
  return Status::Ok();
}

void RayBackend::Shutdown() {
  if (driver_ != nullptr) {
    seam_->shutdown(driver_);  // kills the actors, drops every state, disconnects
    driver_ = nullptr;
  }
  known_.clear();
  workers_.clear();
  if (head_) {
    Status st = head_->Stop();
    if (!st.ok()) warnings_.push_back(st.message());
    head_.reset();
  }
  launched_ = 0;
}

StatusOr<std::unique_ptr<Backend>> MakeRayBackend(const BackendConfig& config) {
  RayBackendOptions o;
  o.address = config.ray_address;
  o.threads_per_worker = config.threads_per_worker;
  // A cluster whose nodes do not share the run directory moves states through Ray's
  // object store instead (README: running on a Ray cluster).
  if (const char* states = std::getenv("CEREBRO_RAY_STATES"); states != nullptr && *states) {
    const std::string mode = states;
    if (mode != "file" && mode != "object_store") {
      return InvalidArgument("CEREBRO_RAY_STATES: expected file or object_store, got '" + mode +
                             "'");
    }
    o.states_by_file = mode == "file";
  }
  return std::unique_ptr<Backend>(std::make_unique<RayBackend>(o));
}

}  // namespace cerebro::exec

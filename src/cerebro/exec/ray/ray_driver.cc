// The driver half of the Ray seam (ray_seam.h), ABI 0: owns the actor handles, the
// in-flight task ObjectRefs and the state ObjectRefs, and turns Ray's exceptions into
// completion kinds. Everything it returns crosses as C types.
//
// Ray pitfall this file is written around (docs/ray-spike.md): ObjectRef's move
// constructor drops the reference before re-adding it, which can free a running task's
// result. ObjectRefs here are only ever copy-constructed into std::optional / map nodes
// (never moved, never stored in a vector that may reallocate).
#include <ray/api.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/exec/ray/ray_actor.h"
#include "cerebro/exec/ray/ray_seam.h"
#include "cerebro/train/worker_api.h"

static_assert(_GLIBCXX_USE_CXX11_ABI == 0, "Ray-facing code must be built with ABI 0");

namespace {

using cerebro::MonotonicSeconds;
using cerebro::WallSeconds;
using cerebro::exec::ray_actor::ReadyReply;
using cerebro::exec::ray_actor::UnitArgs;
using cerebro::exec::ray_actor::UnitOutput;
using cerebro::exec::ray_actor::Worker;

void CopyText(const std::string& text, char* buf, size_t cap) {
  if (buf == nullptr || cap == 0) return;
  size_t n = std::min(text.size(), cap - 1);
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

// Ray's exceptions carry a binary payload in msg_ (what() is truncated garbage): name
// the type and keep the printable runs of the payload, on one line.
std::string Describe(const std::exception& e) {
  std::string kind = "error";
  std::string payload = e.what();
  if (auto* re = dynamic_cast<const ray::internal::RayException*>(&e)) {
    payload = re->msg_;
    if (dynamic_cast<const ray::internal::RayActorException*>(&e)) kind = "actor died";
    else if (dynamic_cast<const ray::internal::RayWorkerException*>(&e)) kind = "worker died";
    else if (dynamic_cast<const ray::internal::RayTaskException*>(&e)) kind = "task failed";
    else if (dynamic_cast<const ray::internal::UnreconstructableException*>(&e)) kind = "object lost";
    else kind = "ray error";
  } else if (dynamic_cast<const std::bad_cast*>(&e) != nullptr) {
    // Ray's C++ API cannot decode some system errors (seen: the result of a task whose
    // node died): the result is gone all the same.
    return "result lost (Ray's error not decodable: std::bad_cast; did a node die?)";
  }
  std::string text, run;
  auto flush = [&] {
    if (run.size() >= 8) text += (text.empty() ? "" : " | ") + run;
    run.clear();
  };
  for (char c : payload) {
    if (c >= 32 && c < 127) run += c;
    else flush();
  }
  flush();
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text.empty() ? kind : kind + ": " + text;
}

// Runs body (returning a CEREBRO_RAY_* code); nothing thrown crosses the C line.
template <typename Body>
int Guarded(char* err, size_t cap, Body&& body) noexcept {
  try {
    CopyText("", err, cap);
    return body();
  } catch (const std::exception& e) {
    CopyText(Describe(e), err, cap);
  } catch (...) {
    CopyText("unknown exception", err, cap);
  }
  return CEREBRO_RAY_ERR;
}

struct Slot {
  CerebroRayWorkerSetup setup{};
  std::string store_dir;  // owns setup.store_dir's text
  std::optional<ray::ActorHandle<Worker>> actor;
  std::optional<ray::ObjectRef<UnitOutput>> in_flight;
  double submitted_at = 0;
  double submit_seconds = 0;
  int pid = -1;
};

}  // namespace

struct CerebroRayDriver {
  std::vector<Slot> slots;  // sized once in start_workers: never reallocated afterwards
  // One bundle (CPU = threads) per worker, spread over the nodes: worker w's actor lives
  // in bundle w, also after a restart. When a node dies Ray re-places its bundles on
  // nodes with room, so a restarted actor lands on a survivor.
  std::optional<ray::PlacementGroup> placement;
  std::map<uint64_t, ray::ObjectRef<UnitOutput>> states;
  uint64_t next_state = 1;
  std::shared_ptr<UnitOutput> last;  // the bytes behind the last completion
  uint64_t last_state = 0;
};

namespace {

ray::ActorHandle<Worker> CreateActor(CerebroRayDriver* d, const Slot& s, int index) {
  return ray::Actor(Worker::Create)
      .SetResource("CPU", static_cast<double>(std::max(1, s.setup.threads)))
      .SetPlacementGroup(*d->placement, index)
      .Remote(s.store_dir, s.setup.train_partition, s.setup.val_partition,
              std::max(1, s.setup.threads));
}

// Actor start-up includes loading LibTorch and the partitions in a fresh process.
constexpr int kReadyTimeoutMs = 600 * 1000;
// Restarts that may find the worker's bundle still on a node that just died.
constexpr int kRestartAttempts = 3;

// Waits for the actor's constructor (partition loading) and records its pid.
int AwaitReady(Slot& s, int index, std::string* warning, char* err, size_t cap) {
  auto ready_ref = s.actor->Task(&Worker::Ready).Remote();
  std::shared_ptr<ReadyReply> r;
  try {
    // An actor the cluster cannot place (too few free CPUs) stays pending forever.
    r = ray::Get(ready_ref, kReadyTimeoutMs);
  } catch (const ray::internal::RayTimeoutException&) {
    CopyText("worker " + std::to_string(index) + " did not start within " +
                 std::to_string(kReadyTimeoutMs / 1000) + " s (does the cluster have " +
                 std::to_string(std::max(1, s.setup.threads)) + " free CPU(s) for it?)",
             err, cap);
    return CEREBRO_RAY_ERR;
  }
  if (!r->ok) {
    CopyText("worker " + std::to_string(index) + ": " + r->error, err, cap);
    return CEREBRO_RAY_ERR;
  }
  s.pid = r->pid;
  if (warning != nullptr && warning->empty()) *warning = r->warning;
  return CEREBRO_RAY_OK;
}

int Connect(const char* address, const char* code_search_path, CerebroRayDriver** out,
            char* err, size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    if (ray::IsInitialized()) {
      CopyText("ray: this process is already connected to a cluster", err, cap);
      return CEREBRO_RAY_ERR;
    }
    ray::RayConfig config;
    config.address = address;
    config.code_search_path = {code_search_path};
    // A head on a loopback address is on this host, so it is the driver's node too; Ray
    // would otherwise look for a raylet at the address it resolves for itself.
    const std::string host = std::string(address).substr(0, std::string(address).rfind(':'));
    std::string prog = "cerebro", node_ip = "--ray_node_ip_address=" + host;
    std::vector<char*> argv = {prog.data()};
    if (host.rfind("127.", 0) == 0) argv.push_back(node_ip.data());
    ray::Init(config, static_cast<int>(argv.size()), argv.data());
    *out = new CerebroRayDriver();  // owned by the caller until shutdown()
    return CEREBRO_RAY_OK;
  });
}

int StartWorkers(CerebroRayDriver* d, const CerebroRayWorkerSetup* setups, int n,
                 char* warning, size_t warning_cap, char* err, size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    if (!d->slots.empty()) {
      CopyText("ray: workers already started", err, cap);
      return CEREBRO_RAY_ERR;
    }
    d->slots.resize(static_cast<size_t>(n));
    ray::PlacementGroupCreationOptions pg;
    pg.name = "";  // unnamed: owned by this job, gone with it
    pg.strategy = ray::PlacementStrategy::SPREAD;
    for (int i = 0; i < n; ++i) {
      pg.bundles.push_back({{"CPU", static_cast<double>(std::max(1, setups[i].threads))}});
    }
    d->placement.emplace(ray::CreatePlacementGroup(pg));
    if (!d->placement->Wait(kReadyTimeoutMs / 1000)) {
      CopyText("ray: the cluster cannot place " + std::to_string(n) +
                   " workers (each needs its CPUs; placement group not ready in " +
                   std::to_string(kReadyTimeoutMs / 1000) + " s)",
               err, cap);
      return CEREBRO_RAY_ERR;
    }
    // Create every actor first so they load their partitions in parallel.
    for (int i = 0; i < n; ++i) {
      Slot& s = d->slots[i];
      s.setup = setups[i];
      s.store_dir = setups[i].store_dir != nullptr ? setups[i].store_dir : "";
      auto handle = CreateActor(d, s, i);
      s.actor.emplace(handle);
    }
    std::string first_warning;
    for (int i = 0; i < n; ++i) {
      int rc = AwaitReady(d->slots[i], i, &first_warning, err, cap);
      if (rc != CEREBRO_RAY_OK) return rc;
    }
    CopyText(first_warning, warning, warning_cap);
    return CEREBRO_RAY_OK;
  });
}

int RestartWorker(CerebroRayDriver* d, int w, char* err, size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    if (w < 0 || w >= static_cast<int>(d->slots.size())) {
      CopyText("ray: no such worker", err, cap);
      return CEREBRO_RAY_ERR;
    }
    Slot& s = d->slots[w];
    s.in_flight.reset();
    if (s.actor) {
      try {
        s.actor->Kill();  // a no-op for a dead actor; a live one must not linger
      } catch (const std::exception&) {
      }
      s.actor.reset();
    }
    s.pid = -1;
    for (int attempt = 1;; ++attempt) {
      auto handle = CreateActor(d, s, w);
      s.actor.emplace(handle);
      try {
        return AwaitReady(s, w, nullptr, err, cap);
      } catch (const ray::internal::RayActorException&) {
        // Placed on a node that was going down before Ray noticed (its health checks
        // lag): Ray has now, and re-places the worker's bundle on a live node.
        if (attempt == kRestartAttempts) throw;
        s.actor.reset();
      }
    }
  });
}

int PutState(CerebroRayDriver* d, const uint8_t* bytes, size_t size, uint64_t* out, char* err,
             size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    UnitOutput o;
    o.state.assign(reinterpret_cast<const char*>(bytes), size);
    o.returned_at = WallSeconds();
    auto ref = ray::Put(o);
    uint64_t id = d->next_state++;
    d->states.emplace(id, ref);
    *out = id;
    return CEREBRO_RAY_OK;
  });
}

void ReleaseState(CerebroRayDriver* d, uint64_t id) {
  try {
    d->states.erase(id);
    if (id == d->last_state) {
      d->last.reset();
      d->last_state = 0;
    }
  } catch (...) {
  }
}

int Submit(CerebroRayDriver* d, const CerebroRayUnit* u, char* err, size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    if (u->worker < 0 || u->worker >= static_cast<int>(d->slots.size())) {
      CopyText("ray: submit: no such worker", err, cap);
      return CEREBRO_RAY_ERR;
    }
    Slot& s = d->slots[u->worker];
    if (s.in_flight || !s.actor) {
      CopyText("ray: submit: worker " + std::to_string(u->worker) + " not idle", err, cap);
      return CEREBRO_RAY_ERR;
    }
    UnitArgs args;
    args.model_config_json = u->model_config_json;
    args.train = u->train;
    args.init_seed = u->init_seed;
    args.unit_seed = u->unit_seed;
    args.submitted_at = WallSeconds();
    if (u->state_path != nullptr) args.state_path = u->state_path;
    args.state_size = u->state_file_size;
    args.state_hash = u->state_file_hash;
    if (u->out_path != nullptr) args.out_path = u->out_path;
    args.durable = u->out_durable;
    double t0 = MonotonicSeconds();
    s.submitted_at = t0;
    if (u->state != 0) {
      auto it = d->states.find(u->state);
      if (it == d->states.end()) {
        CopyText("ray: submit: unknown state id " + std::to_string(u->state), err, cap);
        return CEREBRO_RAY_ERR;
      }
      // The state ObjectRef goes to the actor as is: Ray resolves it there.
      auto ref = s.actor->Task(&Worker::RunUnit).Remote(args, it->second);
      s.in_flight.emplace(ref);
    } else {
      UnitOutput fresh;  // no bytes: a fresh model, or args.state_path's state
      auto ref = s.actor->Task(&Worker::RunUnit).Remote(args, fresh);
      s.in_flight.emplace(ref);
    }
    s.submit_seconds = MonotonicSeconds() - t0;
    return CEREBRO_RAY_OK;
  });
}

int WaitAny(CerebroRayDriver* d, int timeout_ms, CerebroRayCompletion* out, char* err,
            size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    std::vector<ray::ObjectRef<UnitOutput>> refs;
    std::vector<int> which;
    refs.reserve(d->slots.size());
    for (size_t i = 0; i < d->slots.size(); ++i) {
      if (d->slots[i].in_flight) {
        refs.push_back(*d->slots[i].in_flight);  // copy, never move (see top)
        which.push_back(static_cast<int>(i));
      }
    }
    if (refs.empty()) return CEREBRO_RAY_NOT_IN_FLIGHT;
    // Blocks in Ray's core worker until one result (or a failure) is ready, or the
    // timeout passes (then nothing is ready: Ray's Wait does not treat it as an error).
    ray::WaitResult<UnitOutput> wr = ray::Wait(refs, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (wr.ready.empty() && timeout_ms >= 0) return CEREBRO_RAY_TIMEOUT;
    if (wr.ready.empty()) {
      CopyText("ray: wait returned no ready result", err, cap);
      return CEREBRO_RAY_ERR;
    }
    int w = -1;
    for (size_t k = 0; k < refs.size(); ++k) {
      if (refs[k].ID() == wr.ready.front().ID()) w = which[k];
    }
    if (w < 0) {
      CopyText("ray: wait returned an unknown result", err, cap);
      return CEREBRO_RAY_ERR;
    }
    Slot& s = d->slots[w];
    ray::ObjectRef<UnitOutput> ref = *s.in_flight;
    s.in_flight.reset();
    *out = CerebroRayCompletion{};
    out->worker = w;
    out->code = CEREBRO_OK;
    double t0 = MonotonicSeconds();
    std::shared_ptr<UnitOutput> r;
    try {
      r = ray::Get(ref);
    } catch (const std::exception& e) {
      // The actor died (or its result is gone): the unit is lost, the state it started
      // from is not (it is the caller's, by id).
      out->kind = CEREBRO_RAY_UNIT_WORKER_LOST;
      out->wall_seconds = MonotonicSeconds() - s.submitted_at;
      CopyText("worker " + std::to_string(w) + " (ray actor, pid " + std::to_string(s.pid) +
                   ") lost: " + Describe(e),
               err, cap);
      return CEREBRO_RAY_OK;
    }
    double t1 = MonotonicSeconds();
    out->fetch_seconds = t1 - t0;
    out->submit_seconds = s.submit_seconds;
    out->wall_seconds = t1 - s.submitted_at;
    out->loss_sum = r->loss_sum;
    out->correct = r->correct;
    out->num_examples = r->num_examples;
    out->compute_seconds = r->compute_seconds;
    out->state_seconds = r->state_seconds;
    out->handoff_seconds = r->handoff_seconds;
    out->file_seconds = r->file_seconds;
    if (r->code != CEREBRO_OK) {
      out->kind = CEREBRO_RAY_UNIT_FAILED;
      out->code = r->code;
      CopyText(r->error, err, cap);
      return CEREBRO_RAY_OK;
    }
    out->kind = CEREBRO_RAY_UNIT_OK;
    out->written_size = r->written_size;
    out->written_hash = r->written_hash;
    if (!r->state.empty()) {
      uint64_t id = d->next_state++;
      d->states.emplace(id, ref);
      out->state = id;
      out->state_bytes = reinterpret_cast<const uint8_t*>(r->state.data());
      out->state_size = r->state.size();
      d->last = r;
      d->last_state = id;
    }
    return CEREBRO_RAY_OK;
  });
}

int WorkerPid(CerebroRayDriver* d, int w) {
  if (w < 0 || w >= static_cast<int>(d->slots.size())) return -1;
  return d->slots[w].pid;
}

void Shutdown(CerebroRayDriver* d) {
  if (d == nullptr) return;
  try {
    for (auto& s : d->slots) {
      s.in_flight.reset();
      if (s.actor) {
        try {
          s.actor->Kill();
        } catch (const std::exception&) {
        }
        s.actor.reset();
      }
    }
    // Every ObjectRef must be gone before the runtime is (their destructors call it).
    d->states.clear();
    d->last.reset();
    d->slots.clear();
    if (d->placement) {
      try {
        ray::RemovePlacementGroup(d->placement->GetID());
      } catch (const std::exception&) {
      }
      d->placement.reset();
    }
    ray::Shutdown();
  } catch (...) {
  }
  delete d;
}

int BlasSuggestedCoretype(char* buf, size_t cap) { return cerebro_blas_suggested_coretype(buf, cap); }

int MeasureHandoff(CerebroRayDriver* d, size_t size, int iterations, double* hop_ms,
                   double* chain_ms, char* err, size_t cap) {
  return Guarded(err, cap, [&]() -> int {
    if (d->slots.size() < 2) {
      CopyText("ray: the hand-off benchmark needs two workers", err, cap);
      return CEREBRO_RAY_ERR;
    }
    UnitOutput seed;
    seed.state.assign(size, '\x07');
    auto seed_ref = ray::Put(seed);
    auto& a = *d->slots[0].actor;
    auto& b = *d->slots[1].actor;
    for (int i = -2; i < iterations; ++i) {  // two warm-up rounds
      double t0 = MonotonicSeconds();
      auto ra = a.Task(&Worker::Echo).Remote(seed_ref, 1);  // a: holds the bytes, returns them
      auto rb = b.Task(&Worker::Echo).Remote(ra, 0);        // b: receives them from a
      std::shared_ptr<UnitOutput> r = ray::Get(rb);
      double t1 = MonotonicSeconds();
      if (i < 0) continue;
      hop_ms[i] = r->handoff_seconds * 1e3;
      chain_ms[i] = (t1 - t0) * 1e3;
    }
    return CEREBRO_RAY_OK;
  });
}

const CerebroRaySeam kSeam = {
    CEREBRO_RAY_SEAM_VERSION, Connect,   StartWorkers, RestartWorker, PutState,
    ReleaseState,             Submit,    WaitAny,      WorkerPid,     Shutdown,
    BlasSuggestedCoretype,    MeasureHandoff,
};

}  // namespace

extern "C" const CerebroRaySeam* cerebro_ray_seam(void) { return &kSeam; }

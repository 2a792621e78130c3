// cerebro-worker: one local worker process. Loads its train and validation partitions
// once, then serves units from the driver over the socket on fd --fd until told to quit
// or the socket closes. Training happens only through the trainer's C API
// (train/worker_api.h), exactly as a Ray actor will call it.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "cerebro/exec/wire.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::exec {
namespace {

struct Args {
  int fd = -1;
  std::string store;
  int train_partition = -1;
  int val_partition = -1;
  int threads = 1;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--fd") a->fd = std::atoi(v);
    else if (k == "--store") a->store = v;
    else if (k == "--train-partition") a->train_partition = std::atoi(v);
    else if (k == "--val-partition") a->val_partition = std::atoi(v);
    else if (k == "--threads") a->threads = std::atoi(v);
    else return false;
  }
  return a->fd >= 0 && !a->store.empty() && a->threads >= 1;
}

int Serve(const Args& args) {
  char err[1024] = {0};
  char warning[1024] = {0};
  CerebroWorker* worker = nullptr;
  int rc = cerebro_worker_create(args.threads, &worker, warning, sizeof(warning), err, sizeof(err));
  if (rc == CEREBRO_OK && args.train_partition >= 0) {
    rc = cerebro_worker_load_partition(worker, args.store.c_str(), "train", args.train_partition,
                                       err, sizeof(err));
  }
  if (rc == CEREBRO_OK && args.val_partition >= 0) {
    rc = cerebro_worker_load_partition(worker, args.store.c_str(), "val", args.val_partition, err,
                                       sizeof(err));
  }
  {
    WireWriter ready(FrameType::kReady);
    ready.PutU8(rc == CEREBRO_OK ? 1 : 0);
    ready.PutBytes(warning);
    ready.PutBytes(err);
    if (!SendFrame(args.fd, ready).ok() || rc != CEREBRO_OK) {
      if (worker) cerebro_worker_destroy(worker);
      return 1;
    }
  }
  std::string payload;
  while (ReceiveFrame(args.fd, &payload).ok()) {
    WireReader r(payload);
    uint8_t type = 0, train = 0;
    std::string config;
    std::string_view state;
    CerebroUnitRequest req{};
    if (!r.GetU8(&type).ok() || type != static_cast<uint8_t>(FrameType::kRunUnit)) break;
    if (!r.GetBytes(&config).ok() || !r.GetU8(&train).ok() || !r.GetU64(&req.init_seed).ok() ||
        !r.GetU64(&req.unit_seed).ok() || !r.GetBytesView(&state).ok()) {
      break;
    }
    req.model_config_json = config.c_str();
    req.train = train;
    req.state = reinterpret_cast<const uint8_t*>(state.data());
    req.state_size = state.size();
    CerebroUnitResult res{};
    err[0] = '\0';
    int code = cerebro_worker_run_unit(worker, &req, &res, err, sizeof(err));
    WireWriter out(FrameType::kResult);
    out.PutI64(code);
    out.PutBytes(code == CEREBRO_OK ? "" : err);
    out.PutF64(res.loss_sum);
    out.PutF64(res.correct);
    out.PutI64(res.num_examples);
    out.PutF64(res.compute_seconds);
    out.PutF64(res.state_seconds);
    std::string_view new_state(reinterpret_cast<const char*>(res.state),
                               code == CEREBRO_OK ? res.state_size : 0);
    Status st = SendFrame(args.fd, out, new_state, /*has_trailing=*/true);
    if (res.state) cerebro_buffer_free(res.state);
    if (!st.ok()) break;
  }
  cerebro_worker_destroy(worker);
  return 0;
}

}  // namespace
}  // namespace cerebro::exec

int main(int argc, char** argv) {
  // OpenBLAS chooses its kernels when it loads and falls back to slow generic ones on
  // CPUs newer than its release (measured 3x slower here). It reads OPENBLAS_CORETYPE
  // only at load time, so when it guessed wrong we re-execute ourselves with the right
  // value, once (the variable is then set). A user's own OPENBLAS_CORETYPE is respected.
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    char core[64] = {0};
    if (cerebro_blas_suggested_coretype(core, sizeof(core)) == 1) {
      ::setenv("OPENBLAS_CORETYPE", core, 1);
      ::execv("/proc/self/exe", argv);  // on failure, carry on with the slow kernels
    }
  }
  cerebro::exec::Args args;
  if (!cerebro::exec::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: cerebro-worker --fd N --store DIR [--train-partition P] "
                 "[--val-partition P] [--threads T]\n(started by the cerebro driver)\n");
    return 2;
  }
  return cerebro::exec::Serve(args);
}

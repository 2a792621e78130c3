// The worker's serving loop, shared by the cerebro-worker executable (worker_main.cc)
// and workers forked from the driver's fork server (fork_server.h): loads its train and
// validation partitions once (named by --store, or, started without one while the driver
// still prepares the data, by the LoadFrame it waits for after reporting that it is up),
// then serves units from the driver over the socket on fd --fd until told to quit or the
// socket closes. Training happens only through the trainer's C API (train/worker_api.h),
// exactly as a Ray actor calls it. A request may name its states by file (the run's
// checkpoints): the worker then reads and writes them itself.
#include "cerebro/exec/worker_serve.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "cerebro/exec/fork_server.h"
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
  return a->fd >= 0 && a->threads >= 1;
}

// Launched without --store: says it is up (or why not), then takes the partitions to
// load from the driver's LoadFrame. False when the driver went away or sent anything else.
bool AwaitLoad(int fd, int rc, const char* warning, const char* err, Args* args) {
  ReadyFrame up;
  up.ok = rc == CEREBRO_OK;
  up.warning = warning;
  up.error = err;
  if (!SendFrame(fd, up.Encode()).ok() || rc != CEREBRO_OK) return false;
  std::string payload;
  if (!ReceiveFrame(fd, &payload).ok()) return false;
  StatusOr<LoadFrame> load = LoadFrame::Decode(payload);
  if (!load.ok()) return false;
  args->store = load->store_dir;
  args->train_partition = static_cast<int>(load->train_partition);
  args->val_partition = static_cast<int>(load->val_partition);
  return true;
}

int Serve(Args args) {
  char err[1024] = {0};
  char warning[1024] = {0};
  CerebroWorker* worker = nullptr;
  int rc = cerebro_worker_create(args.threads, &worker, warning, sizeof(warning), err, sizeof(err));
  if (args.store.empty()) {
    if (!AwaitLoad(args.fd, rc, warning, err, &args)) {
      if (worker) cerebro_worker_destroy(worker);
      return 1;
    }
    warning[0] = '\0';  // reported already
  }
  if (rc == CEREBRO_OK && args.train_partition >= 0) {
    rc = cerebro_worker_load_partition(worker, args.store.c_str(), "train", args.train_partition,
                                       err, sizeof(err));
  }
  if (rc == CEREBRO_OK && args.val_partition >= 0) {
    rc = cerebro_worker_load_partition(worker, args.store.c_str(), "val", args.val_partition, err,
                                       sizeof(err));
  }
  {
    ReadyFrame ready;
    ready.ok = rc == CEREBRO_OK;
    ready.warning = warning;
    ready.error = err;
    if (!SendFrame(args.fd, ready.Encode()).ok() || rc != CEREBRO_OK) {
      if (worker) cerebro_worker_destroy(worker);
      return 1;
    }
  }
  // Serves until the socket closes or a frame is not a run-unit frame: a quit frame, or
  // a malformed one (the driver then sees EOF and reports the unit's worker lost).
  std::string payload;
  while (ReceiveFrame(args.fd, &payload).ok()) {
    StatusOr<RunUnitFrame> unit = RunUnitFrame::Decode(payload);
    if (!unit.ok()) break;
    CerebroUnitRequest req{};
    req.model_config_json = unit->model_config_json.c_str();
    req.train = unit->train ? 1 : 0;
    req.init_seed = unit->init_seed;
    req.unit_seed = unit->unit_seed;
    req.state = reinterpret_cast<const uint8_t*>(unit->state.data());
    req.state_size = unit->state.size();
    req.state_path = unit->state_path.c_str();
    req.state_file_size = unit->state_size;
    req.state_file_hash = unit->state_hash;
    req.out_path = unit->out_path.c_str();
    req.out_durable = unit->durable ? 1 : 0;
    CerebroUnitResult res{};
    err[0] = '\0';
    ResultFrame out;
    out.code = cerebro_worker_run_unit(worker, &req, &res, err, sizeof(err));
    if (out.code != CEREBRO_OK) out.error = err;
    out.loss_sum = res.loss_sum;
    out.correct = res.correct;
    out.num_examples = res.num_examples;
    out.compute_seconds = res.compute_seconds;
    out.state_seconds = res.state_seconds;
    out.file_seconds = res.file_seconds;
    if (out.code == CEREBRO_OK && !unit->out_path.empty() && unit->train) {
      out.written_size = res.state_size;
      out.written_hash = res.state_hash;
    }
    if (out.code == CEREBRO_OK && res.state != nullptr) {
      out.state = std::string_view(reinterpret_cast<const char*>(res.state), res.state_size);
    }
    Status st = SendFrame(args.fd, out.Encode());
    if (res.state) cerebro_buffer_free(res.state);
    if (!st.ok()) break;
  }
  cerebro_worker_destroy(worker);
  return 0;
}

}  // namespace

Status ApplyWorkerAddressLimit() {
  const char* as = std::getenv("CEREBRO_WORKER_RLIMIT_AS_BYTES");
  if (as == nullptr) return Status::Ok();
  char* end = nullptr;
  const unsigned long long bytes = std::strtoull(as, &end, 10);
  rlimit limit{};
  ::getrlimit(RLIMIT_AS, &limit);  // only the soft limit is lowered, never above the hard one
  limit.rlim_cur = std::min<rlim_t>(static_cast<rlim_t>(bytes), limit.rlim_max);
  if (end == as || *end != '\0' || bytes == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) {
    return InvalidArgument(std::string("CEREBRO_WORKER_RLIMIT_AS_BYTES=") + as + ": not applied");
  }
  return Status::Ok();
}

int WorkerMain(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: cerebro-worker --fd N [--store DIR] [--train-partition P] "
                 "[--val-partition P] [--threads T]\n(started by the cerebro driver)\n");
    return 2;
  }
  return Serve(args);
}

namespace {
// The fork server's entry: the address limit first, as an exec'd worker's main() does.
int ForkedWorkerMain(int argc, char** argv) {
  if (Status st = ApplyWorkerAddressLimit(); !st.ok()) {
    std::fprintf(stderr, "cerebro-worker: %s\n", st.message().c_str());
    return 2;
  }
  return WorkerMain(argc, argv);
}
}  // namespace

Status StartWorkerForkServer() {
  // OpenBLAS chose its kernels when this process loaded it; a worker forked from here
  // keeps that choice, so when it was a weak one (see cerebro-worker's main) workers are
  // exec'd with the right OPENBLAS_CORETYPE instead.
  char core[64] = {0};
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr &&
      cerebro_blas_suggested_coretype(core, sizeof(core)) == 1) {
    return FailedPrecondition(std::string("fork server: OpenBLAS needs OPENBLAS_CORETYPE=") +
                              core + " at load; workers are exec'd");
  }
  return ForkServer::Start(&ForkedWorkerMain);
}

}  // namespace cerebro::exec


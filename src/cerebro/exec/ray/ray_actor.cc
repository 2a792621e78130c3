#include "cerebro/exec/ray/ray_actor.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "cerebro/common/clock.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::exec::ray_actor {

Worker* Worker::Create(std::string store_dir, int train_partition, int val_partition,
                       int threads) {
  // Ray takes ownership of the returned pointer (its factory protocol), hence release().
  std::unique_ptr<Worker> w(new Worker());
  char err[1024] = {0};
  char warning[1024] = {0};
  int rc = cerebro_worker_create(threads, &w->worker_, warning, sizeof(warning), err,
                                 sizeof(err));
  if (rc == CEREBRO_OK && train_partition >= 0) {
    rc = cerebro_worker_load_partition(w->worker_, store_dir.c_str(), "train", train_partition,
                                       err, sizeof(err));
  }
  if (rc == CEREBRO_OK && val_partition >= 0) {
    rc = cerebro_worker_load_partition(w->worker_, store_dir.c_str(), "val", val_partition, err,
                                       sizeof(err));
  }
  w->ready_.ok = rc == CEREBRO_OK;
  w->ready_.warning = warning;
  w->ready_.error = err;
  w->ready_.pid = static_cast<int>(::getpid());
  return w.release();
}

Worker::~Worker() {
  if (worker_ != nullptr) cerebro_worker_destroy(worker_);
}

ReadyReply Worker::Ready() { return ready_; }

int Worker::Pid() { return static_cast<int>(::getpid()); }

UnitOutput Worker::RunUnit(UnitArgs args, UnitOutput input) {
  UnitOutput out;
  // Ray has resolved `input` by the time we run. A state usually waits in the object
  // store until the scheduler submits its model's next unit: that wait is not hand-off.
  if (input.returned_at > 0) {
    out.handoff_seconds = WallSeconds() - std::max(input.returned_at, args.submitted_at);
  }
  if (!ready_.ok) {
    out.code = CEREBRO_ERR_DATA;
    out.error = ready_.error;
    out.returned_at = WallSeconds();
    return out;
  }
  CerebroUnitRequest req{};
  req.model_config_json = args.model_config_json.c_str();
  req.train = args.train;
  req.init_seed = args.init_seed;
  req.unit_seed = args.unit_seed;
  req.state = reinterpret_cast<const uint8_t*>(input.state.data());
  req.state_size = input.state.size();
  req.state_path = args.state_path.c_str();
  req.state_file_size = args.state_size;
  req.state_file_hash = args.state_hash;
  req.out_path = args.train ? args.out_path.c_str() : "";
  req.out_durable = args.durable;
  CerebroUnitResult res{};
  char err[1024] = {0};
  out.code = cerebro_worker_run_unit(worker_, &req, &res, err, sizeof(err));
  out.error = out.code == CEREBRO_OK ? "" : err;
  out.loss_sum = res.loss_sum;
  out.correct = res.correct;
  out.num_examples = res.num_examples;
  out.compute_seconds = res.compute_seconds;
  out.state_seconds = res.state_seconds;
  out.file_seconds = res.file_seconds;
  if (out.code == CEREBRO_OK && args.train && !args.out_path.empty()) {
    out.written_size = res.state_size;
    out.written_hash = res.state_hash;
  }
  if (res.state != nullptr) {
    if (out.code == CEREBRO_OK) out.state.assign(reinterpret_cast<const char*>(res.state), res.state_size);
    cerebro_buffer_free(res.state);
  }
  out.returned_at = WallSeconds();
  return out;
}

UnitOutput Worker::Echo(UnitOutput input, int keep_state) {
  UnitOutput out;
  if (input.returned_at > 0) out.handoff_seconds = WallSeconds() - input.returned_at;
  if (keep_state) out.state = std::move(input.state);
  out.returned_at = WallSeconds();
  return out;
}

}  // namespace cerebro::exec::ray_actor

// Registers the factory and methods under their spelled names; the driver (which links
// this same file) refers to them by these pointers.
RAY_REMOTE(cerebro::exec::ray_actor::Worker::Create, &cerebro::exec::ray_actor::Worker::Ready,
           &cerebro::exec::ray_actor::Worker::RunUnit, &cerebro::exec::ray_actor::Worker::Pid,
           &cerebro::exec::ray_actor::Worker::Echo);

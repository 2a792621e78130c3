// LocalRayHead: a one-node Ray cluster on loopback that this process starts, owns and
// stops — for `cerebro run --backend ray` without --ray-address, and for tests — or one
// more node joining such a cluster (RayHeadOptions::join_address; multi-node tests).
//
// It runs `ray start --head --block` as a child in its own process group with
// PR_SET_PDEATHSIG=SIGTERM: `--block` makes that process own the cluster (on SIGTERM it
// stops the GCS, the raylet and, through the raylet, every worker), and the death signal
// makes this happen even when the driver dies without cleaning up (Ctrl-C, a crash,
// SIGKILL). Its own process group keeps a terminal's Ctrl-C away from it, so the stop is
// always the orderly one. Each head gets a free port and a private --temp-dir, so heads
// do not collide and "nothing left behind" can be checked precisely.
//
// Nobody else gets in: the head runs with Ray's token authentication. Start() writes a
// random 256-bit token (getrandom, hex; one per process, see ray_head.cc) into a 0600
// file in the head's 0700 temp dir (not in Ray's own, which Ray makes 0777) and starts
// Ray with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH naming it: every gRPC call to the
// GCS, a raylet or a worker must carry it. The raylet hands the same environment to the
// actors. A driver gets it from AuthEnvironment(); Ray reads RAY_AUTH_MODE once per
// process, when libray_api.so is loaded, so a driver must have it set before that. Every
// port listens on 127.0.0.1 only (--node-ip-address, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0).
// Not thread-safe; the process (thread) that starts a head must outlive its use.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/status.h"

namespace cerebro::exec {

struct RayHeadOptions {
  std::string ray_cli;  // the `ray` executable; "" = DefaultRayCli()
  int num_cpus = 2;
  // The node's address, a loopback one. Several nodes on one host (a test cluster) each
  // take their own 127.x.y.z: Ray replaces exactly 127.0.0.1 by the host's routable
  // address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which also forbids worker nodes,
  // so a multi-node cluster on loopback uses e.g. 127.0.0.2 for its head.
  std::string node_ip = "127.0.0.1";
  // "" starts a head. "HOST:PORT" joins that head's cluster as a worker node, with the
  // head's token file (its token_path()).
  std::string join_address;
  std::string join_token_path;
  // Extra environment for Ray's processes; Ray's workers inherit it from the raylet.
  std::map<std::string, std::string> env;
  double start_timeout_seconds = 90;
};

// $CEREBRO_RAY_CLI, else the `ray` of the virtualenv the build found, else "ray" on PATH.
std::string DefaultRayCli();

class LocalRayHead {
 public:
  // Launch() and AwaitRunning(): returns once the node reports that it runs.
  static StatusOr<std::unique_ptr<LocalRayHead>> Start(const RayHeadOptions& options);
  // Start() in two halves, for a caller with other work meanwhile (a run prepares its
  // data): Launch() writes the token and forks `ray start`, returning at once;
  // AwaitRunning() waits until the node reports it runs (errors as Start()'s; returns at
  // once when it already did). The thread that calls Launch() must outlive the node
  // (PR_SET_PDEATHSIG follows the thread that forked).
  static StatusOr<std::unique_ptr<LocalRayHead>> Launch(const RayHeadOptions& options);
  Status AwaitRunning();
  ~LocalRayHead();  // Stop()
  LocalRayHead(const LocalRayHead&) = delete;
  LocalRayHead& operator=(const LocalRayHead&) = delete;

  const std::string& address() const { return address_; }  // the cluster's "IP:PORT"
  // 0700, ours: auth_token, ray_start.log and Ray's --temp-dir ray/ (logs below it).
  const std::string& temp_dir() const { return temp_dir_; }
  // The file holding this head's auth token (0600, in temp_dir()).
  const std::string& token_path() const { return token_path_; }
  // What a client of this head needs in its environment: RAY_AUTH_MODE=token and
  // RAY_AUTH_TOKEN_PATH=token_path(). (A RAY_AUTH_TOKEN variable would win over the
  // path in Ray's loader: clients must not carry one; see ExportAuthEnvironment.)
  std::map<std::string, std::string> AuthEnvironment() const;

  // Stops the cluster: SIGTERM to `ray start --block`, which stops its processes; after
  // a grace period, SIGKILL to the whole process group. Then removes the temp dir (kept
  // when $CEREBRO_RAY_KEEP_LOGS is set). Idempotent. Error if processes remain.
  Status Stop();

  // A node going down: SIGKILL to every process of it at once (raylet, its workers, the
  // `ray start` that owns them), nothing orderly. Stop() afterwards cleans up.
  void Kill();

  // Processes of this head still alive (their command line names its temp dir, or they
  // are in its process group): for leftover checks.
  std::vector<int> LiveProcesses() const;

 private:
  LocalRayHead() = default;
  std::string address_;
  std::string temp_dir_;
  std::string token_path_;
  int pid_ = -1;  // `ray start --block`, also the process group id
  std::string cli_;  // for AwaitRunning()
  std::string log_;
  double start_timeout_seconds_ = 90;
  bool running_ = false;
};

}  // namespace cerebro::exec

// Actor-to-actor hand-off of a model state on Ray: two worker actors (no partitions),
// a state of N bytes returned by actor A's task and consumed by actor B's task, the
// ObjectRef passed directly (the driver never holds the bytes). Reports, per size, the
// median and spread over K rounds of
//   hop:   A's task returned -> B's task holds the bytes (serialize, object store,
//          resolve, deserialize), wall clock, measured by the actors;
//   chain: the driver's view, submitting both tasks to B's (small) reply.
// Also times the driver-side cost the Ray backend adds per unit: the state hash (Hash64)
// over N bytes.
//   usage: cerebro_ray_handoff_bench [--address HOST:PORT | --nodes 2] [--iterations K] BYTES...
// Without --address it starts (and stops) a local head like `cerebro run --backend ray`.
// --nodes 2: a two-node cluster on this host instead (a head on 127.0.0.2 and a worker
// node on 127.0.0.3, one CPU each, as the multi-node tests make it), so A and B are on
// different nodes and each hop crosses between two object stores (Ray's object manager,
// over loopback TCP) rather than staying in one node's shared memory.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/common/rng.h"
#include "cerebro/exec/ray/ray_backend.h"
#include "cerebro/exec/ray/ray_head.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cerebro::exec;
  std::string address;
  int iterations = 25;
  int nodes = 1;
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--address" && i + 1 < argc) address = argv[++i];
    else if (a == "--nodes" && i + 1 < argc) nodes = std::atoi(argv[++i]);
    else if (a == "--iterations" && i + 1 < argc) iterations = std::atoi(argv[++i]);
    else sizes.push_back(static_cast<size_t>(std::strtoull(a.c_str(), nullptr, 10)));
  }
  if (sizes.empty() || iterations < 1 || nodes < 1 || nodes > 2 ||
      (nodes == 2 && !address.empty())) {
    std::fprintf(stderr, "usage: %s [--address HOST:PORT | --nodes 2] [--iterations K] BYTES...\n",
                 argv[0]);
    return 2;
  }
  std::unique_ptr<LocalRayHead> head, node;
  if (nodes == 2) {
    ::setenv("RAY_AUTH_MODE", "token", 1);  // before Ray is loaded (ray_head.h)
    RayHeadOptions ho;
    ho.env = RayWorkerEnvironment(1);
    ho.num_cpus = 1;
    ho.node_ip = "127.0.0.2";
    auto h = LocalRayHead::Start(ho);
    if (!h.ok()) {
      std::fprintf(stderr, "%s\n", h.status().ToString().c_str());
      return 1;
    }
    head = std::move(h).value();
    ho.node_ip = "127.0.0.3";
    ho.join_address = head->address();
    ho.join_token_path = head->token_path();
    auto n = LocalRayHead::Start(ho);
    if (!n.ok()) {
      std::fprintf(stderr, "%s\n", n.status().ToString().c_str());
      return 1;
    }
    node = std::move(n).value();
    for (const auto& [k, v] : head->AuthEnvironment()) ::setenv(k.c_str(), v.c_str(), 1);
    address = head->address();
  }
  RayBackendOptions o;
  o.address = address;
  RayBackend backend(o);
  cerebro::Status st = backend.Start({{"", -1, -1}, {"", -1, -1}});
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  for (size_t bytes : sizes) {
    std::vector<double> hop, chain;
    st = backend.MeasureHandoff(bytes, iterations, &hop, &chain);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    std::string buf(bytes, '\x07');
    std::vector<double> hash_ms;
    for (int i = 0; i < 5; ++i) {
      const double t0 = cerebro::MonotonicSeconds();
      volatile uint64_t h = cerebro::Hash64(buf.data(), buf.size());
      (void)h;
      hash_ms.push_back((cerebro::MonotonicSeconds() - t0) * 1e3);
    }
    std::printf(
        "nodes=%d bytes=%zu iterations=%d hop_median_ms=%.2f hop_p10_ms=%.2f hop_p90_ms=%.2f "
        "chain_median_ms=%.2f chain_p10_ms=%.2f chain_p90_ms=%.2f state_hash_ms=%.2f\n",
        nodes, bytes, iterations, Median(hop), Pct(hop, 0.1), Pct(hop, 0.9), Median(chain),
        Pct(chain, 0.1), Pct(chain, 0.9), Median(hash_ms));
    std::fflush(stdout);
  }
  backend.Shutdown();
  return 0;
}
